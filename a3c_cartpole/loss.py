"""The A3C loss, as one function of plain tensors, so it can be checked by hand.

For a batch of B steps (all of shape [B]; logits [B, A]):

    A_t    = R_t - V(s_t)                      (advantage, treated as a constant)
    policy = mean(-log pi(a_t|s_t) * A_t)
    value  = mean((R_t - V(s_t))^2)
    H      = mean(entropy of pi(.|s_t))
    total  = policy + value_coef * value - entropy_coef * H

The entropy enters with a minus sign: it is a bonus that keeps the policy exploring (the
tutorial's text adds it to the loss, which punishes exploration; SPEC §3, defect 2).
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from a3c_cartpole.config import TrainConfig

ADVANTAGE_EPSILON = 1e-8
"""Added to the advantages' std before dividing, as SB3 does: a rollout of equal advantages stays finite."""


class LossTerms(typing.NamedTuple):
    """The total loss and its parts (the parts are reported, only the total is minimised)."""

    total: tf.Tensor
    policy: tf.Tensor
    value: tf.Tensor
    entropy: tf.Tensor


def a3c_loss(
    logits: tf.Tensor,
    values: tf.Tensor,
    actions: tf.Tensor,
    returns: tf.Tensor,
    entropy_coef: float,
    value_coef: float,
    mask: tf.Tensor | None = None,
    normalize_advantage: bool = False,
) -> LossTerms:
    """Loss of one rollout; refuses any per-step tensor that is not rank 1 (SPEC §3, defect 1).

    `mask` ([T], 1 or 0) leaves steps out of every mean. Workers pass their rollouts whole with
    gymnasium's autoreset steps masked, so the compiled step always sees one shape.
    `normalize_advantage` rescales the (unmasked) advantages to mean 0 and std 1 for the policy
    term only; the critic still regresses on the raw returns.
    """
    tf.debugging.assert_rank(values, 1, message="values must have shape [T]")
    tf.debugging.assert_rank(returns, 1, message="returns must have shape [T]")
    tf.debugging.assert_rank(actions, 1, message="actions must have shape [T]")
    tf.debugging.assert_rank(logits, 2, message="logits must have shape [T, A]")

    advantages = tf.stop_gradient(returns - values)
    log_probs = tf.nn.log_softmax(logits)
    chosen_log_probs = tf.gather(log_probs, actions, axis=1, batch_dims=1)
    entropy = -tf.reduce_sum(tf.exp(log_probs) * log_probs, axis=1)

    if mask is None:
        mask = tf.ones_like(returns)
    tf.debugging.assert_rank(mask, 1, message="mask must have shape [T]")

    def mean(per_step: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(mask * per_step) / tf.maximum(tf.reduce_sum(mask), 1.0)

    if normalize_advantage:
        centred = advantages - mean(advantages)
        advantages = centred / (tf.sqrt(mean(tf.square(centred))) + ADVANTAGE_EPSILON)

    policy_loss = mean(-chosen_log_probs * advantages)
    value_loss = mean(tf.square(returns - values))
    mean_entropy = mean(entropy)
    total = policy_loss + value_coef * value_loss - entropy_coef * mean_entropy
    return LossTerms(total, policy_loss, value_loss, mean_entropy)


class UpdateStats(typing.NamedTuple):
    """What one update reports, as plain floats (for logs and TensorBoard)."""

    total: float
    policy: float
    value: float
    entropy: float
    grad_norm: float

    @classmethod
    def of(cls, stacked) -> UpdateStats:
        """From `stack_stats`' tensor (or its numpy value)."""
        return cls(*np.asarray(stacked, dtype=np.float64).tolist())


def stack_stats(terms: LossTerms, norm: tf.Tensor) -> tf.Tensor:
    """The loss terms and the gradient norm as one [5] tensor, in `UpdateStats` order.

    A compiled update returns this rather than five scalars: each output of a call and each read of
    one costs microseconds, every update, and the stats are read only when they are logged.
    """
    return tf.stack([*terms, norm])


def compiled(**options):
    """A decorator making a training step a `CompiledStep`: `tf.function` without autograph (none of the
    steps has Python control flow on tensors, and autograph's rewriting of every Keras call it traces
    doubled their first call: a worker's update traced in 2.4 s instead of 5.3 s on a loaded 2-core
    machine), called directly as its concrete function."""
    return functools.partial(CompiledStep, **options)


SINGLE_THREADED = "SINGLE_THREADED_EXECUTOR"
"""TensorFlow's executor that runs a function's ops one after another on one thread."""


class CompiledStep:
    """A compiled step called as the concrete function of its one trace, made at the first call.

    Calling a tf.function binds and checks each argument in Python every time: with TensorFlow 2.21 on
    this project's machine, 1.2 ms of a CartPole update's 2.8 ms. The concrete function skips that.
    Arrays are made tensors with tf.constant first (faster than the concrete function's own
    conversion), and the trace leaves their first dimension, the batch, open. Not locked: every caller
    holds the global model's lock or owns its step.

    The step runs on TensorFlow's single-threaded executor: a graph of a few hundred tiny ops gains
    nothing from the default executor's thread pool, whose handoffs and spinning cost more than the ops
    (measured, a CartPole update: 0.63 ms and 0.62 ms of CPU against 0.82 ms and 1.01 ms of CPU).
    """

    def __init__(self, function: Callable, **options) -> None:
        self.function = tf.function(function, autograph=False, **options)
        self._concrete = None

    def __call__(self, *args):
        args = [tf.constant(arg) if isinstance(arg, np.ndarray) else arg for arg in args]
        self.trace(*args)
        with tf.experimental.function_executor_type(SINGLE_THREADED):  # per thread: set at each call
            return self._concrete(*args)

    def trace(self, *args) -> None:
        """Trace for `args` (tensors, or TensorSpecs), unless traced already: done before a run's clock
        starts, the first update does not stall every worker for the ~0.16 s a trace takes."""
        if self._concrete is None:
            self._concrete = self.function.get_concrete_function(*map(_any_batch_size, args))


def _any_batch_size(arg):
    """The spec of a tensor argument of any length along its first axis; other arguments as they are."""
    if isinstance(arg, tf.Tensor) and arg.shape.rank:
        return tf.TensorSpec([None, *arg.shape[1:]], arg.dtype)
    return arg


def batch_signature(obs_size: int) -> list[tf.TensorSpec]:
    """Input signature of a compiled step on one flattened rollout: states, actions, returns, mask."""
    return [
        tf.TensorSpec([None, obs_size], tf.float32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.float32),
        tf.TensorSpec([None], tf.float32),
    ]


def backing_variable(variable):
    """The tf.Variable behind a Keras one (a plain tf.Variable as it is): what a GradientTape watches and
    differentiates at, and what a worker's local variables copy their shape and first value from. A
    compiled function keys a tf.Variable argument by its shape and dtype, so local variables made this
    way share one trace; a Keras variable would be keyed by the object: one trace per worker."""
    return variable.value if isinstance(variable, keras.Variable) else variable


def clipped_gradients(model, states, actions, returns, mask, config: TrainConfig, weights=None):
    """Gradients of `a3c_loss` for `model`'s network, clipped to config.max_grad_norm (0: no clipping).

    `weights`: where to differentiate, in `model.ordered_variables()` order: the variables of another
    model of the same shape (a worker's local copy), so one traced step serves every worker; None:
    `model`'s own. Clipped as one vector, or with `clip_per_head` as two: the policy head's and the
    value head's, each to the same norm. Traced inside the compiled steps of both transports (threads
    and Ray), so they train alike. Returns (gradients, loss terms, norm of all gradients before clipping).
    """
    ordered = model.ordered_variables()
    at = dict(zip(map(id, ordered), map(backing_variable, ordered if weights is None else weights), strict=True))
    trainable = [at[id(v)] for v in model.trainable_variables]
    non_trainable = [tf.convert_to_tensor(at[id(v)]) for v in model.non_trainable_variables]
    with tf.GradientTape() as tape:
        tape.watch(trainable)
        (logits, values), _ = model.stateless_call([tf.convert_to_tensor(v) for v in trainable], non_trainable, states)
        terms = a3c_loss(
            logits, values, actions, returns, config.entropy_coef, config.value_coef, mask, config.normalize_advantage
        )
    gradients = tape.gradient(terms.total, trainable)
    norm = tf.linalg.global_norm(gradients)
    if config.max_grad_norm <= 0:
        return gradients, terms, norm
    if not config.clip_per_head:
        return tf.clip_by_global_norm(gradients, config.max_grad_norm, use_norm=norm)[0], terms, norm
    split = model.policy_variable_count()
    policy, _ = tf.clip_by_global_norm(gradients[:split], config.max_grad_norm)
    value, _ = tf.clip_by_global_norm(gradients[split:], config.max_grad_norm)
    return [*policy, *value], terms, norm
