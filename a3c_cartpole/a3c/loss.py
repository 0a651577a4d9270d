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

import typing

import numpy as np
import tensorflow as tf

from a3c_cartpole.config import TrainConfig
from a3c_cartpole.parallel.tf_runtime import backing_variable

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


class Gradients(typing.NamedTuple):
    """One rollout's gradients, flat in trainable-variable order, and its update's loss terms.

    With observation normalisation, the rollout's observation mean, variance and count follow the
    gradients in the same array, for the global model's normalizer (`GlobalModel.apply_flat`).
    """

    flat: np.ndarray
    stats: UpdateStats


def stack_stats(terms: LossTerms, norm: tf.Tensor) -> tf.Tensor:
    """The loss terms and the gradient norm as one [5] tensor, in `UpdateStats` order.

    A compiled update returns this rather than five scalars: each output of a call and each read of
    one costs microseconds, every update, and the stats are read only when they are logged.
    """
    return tf.stack([*terms, norm])


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
