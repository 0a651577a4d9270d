"""The global network and the one optimizer (Adam or RMSprop) that every worker updates.

Keras 3 optimizers are not thread-safe, so the optimizer is built before any worker starts and
each update -- apply the worker's gradients, then copy the new weights into that worker's local
model -- happens under one lock, as one compiled TensorFlow function. That function also returns
the new weights, flat in one tensor, so the worker's numpy acting copy costs one read. A worker
whose gradients come from elsewhere (its own process, a Ray actor) has them applied by `apply_flat`
and gets the new weights back flat.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from a3c_cartpole.a3c.loss import Gradients, UpdateStats, clipped_gradients, stack_stats
from a3c_cartpole.a3c.rollout import Batch
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.networks.actor_critic import ActorCriticModel, NumpyActorCritic
from a3c_cartpole.parallel.tf_runtime import backing_variable, batch_signature, compiled


def learning_rate(config: TrainConfig, env_steps: int) -> float:
    """The rate of the update made once `env_steps` env steps are done.

    Under "linear" the rate follows env steps, not updates: the budget is counted in env steps, so
    the line meets 0 exactly at it, whatever share of a rollout went to autoreset slots and even if
    a resumed run changes --update-freq or --envs-per-worker.
    """
    if config.lr_schedule == "constant":
        return config.lr
    return config.lr * max(0.0, 1.0 - env_steps / config.max_steps)


RMSPROP_EPSILON = 1e-10
"""PyTorch's (SB3's) RMSprop epsilon of 1e-5, squared: Keras puts it under the square root."""


def make_optimizer(config: TrainConfig, rate: float) -> keras.optimizers.Optimizer:
    """The shared optimizer `config.optimizer` names.

    RMSprop takes SB3 A2C's decay 0.99 and epsilon 1e-5. PyTorch adds epsilon to sqrt(v), Keras adds
    it to v under the square root, so SB3's 1e-5 becomes 1e-10 here. Keras's own 1e-5 would act as
    ~3e-3 outside the root: larger than most clipped per-weight gradients, it throttled every update.
    """
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate, rho=0.99, epsilon=RMSPROP_EPSILON)
    return keras.optimizers.Adam(learning_rate=rate)


class GlobalModel:
    """The shared parameters, their optimizer, and the lock that serialises updates."""

    def __init__(self, model: ActorCriticModel, config: TrainConfig, env_steps: Callable[[], int]) -> None:
        """`env_steps` reads the run's env-step count, which sets the rate of each update."""
        self.model = model
        self.config = config
        self.env_steps = env_steps
        self.optimizer = make_optimizer(config, learning_rate(config, env_steps()))
        self.optimizer.build(model.trainable_variables)
        self.updates = 0
        self.lock = threading.Lock()

    def follow_schedule(self) -> None:
        """Before each update (under the lock): a linear schedule's rate for the steps done so far.

        A constant rate is set once, here at the start and on resume: assigning the optimizer's
        rate costs ~70 us, which every update of a fast CartPole run would pay for nothing.
        """
        if self.config.lr_schedule == "linear":
            self.optimizer.learning_rate = learning_rate(self.config, self.env_steps())

    def connect(self, gradients_where_acted: bool = False) -> LocalLink | GradientLink:
        """The channel through which one worker thread pulls and trains: with local weights of its own,
        or, for a worker whose gradients are computed where it acts (a worker process), with flat weights."""
        return GradientLink(self) if gradients_where_acted else LocalLink(self)

    def _copy_to(self, local_variables: list) -> tf.Tensor:
        """Assign the global weights to a worker's local variables; returns them flat, for the worker's
        numpy copy. Traced into `_train_local`, and run eagerly by `LocalLink.pull` (once per worker, at
        the start: a compiled copy of its own took 0.1 s of every run's start to trace)."""
        ordered = self.model.ordered_variables()
        for target, source in zip(local_variables, ordered, strict=True):
            target.assign(source)
        return flat_weights(ordered)

    @functools.cached_property
    def _train_local(self):
        """Compiled once for every worker thread (a step compiled per worker traced it once per worker,
        under the lock), by `LocalLink.compile` before the run's clock starts: a trace takes a sizeable
        share of a short CartPole run, and stalled every worker.

        The gradient is taken at the local variables (the weights the rollout was acted with), applied to
        the global ones, and the new global weights are copied back into the local variables.
        """
        config, normalizer = self.config, self.model.observation_normalizer

        @compiled()
        def train_local(local_variables, states, actions, returns, mask):
            gradients, terms, norm = clipped_gradients(
                self.model, states, actions, returns, mask, config, weights=local_variables
            )
            self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables, strict=True))
            if normalizer is not None:  # the next rollout acts under statistics that include this one's
                normalizer.absorb(states)
            return self._copy_to(local_variables), stack_stats(terms, norm)

        return train_local

    def snapshot(self) -> NumpyActorCritic:
        """A consistent numpy copy of the global weights (for evaluation and saving)."""
        with self.lock:
            return self.model.snapshot()

    def flat_snapshot(self) -> np.ndarray:
        """The global weights, flat in `ordered_variables` order: what a worker that differentiates
        where it acts starts from."""
        with self.lock:
            return flat_weights(self.model.ordered_variables()).numpy()

    def apply_flat(self, gradients: np.ndarray) -> np.ndarray:
        """Apply gradients computed elsewhere (a worker process or a Ray actor), flat in `trainable_variables` order;
        returns the new weights, flat in `ordered_variables` order, for the next call."""
        with self.lock:
            self.follow_schedule()
            weights = self._apply_flat(gradients)
            self.updates += 1
        return weights.numpy()

    @functools.cached_property
    def _apply_flat(self):
        """Compiled by `GradientLink.compile` (or on first use, under the lock, by Ray's driver): the same
        optimizer step as `LocalLink.train`.

        One flat tensor in and one out: a call with 8 small arrays costs 3x more in argument handling.
        With a normalizer, the rollout's observation mean, variance and count follow the gradients.
        """
        trainable = self.model.trainable_variables
        ordered = self.model.ordered_variables()
        normalizer = self.model.observation_normalizer
        sizes = [int(np.prod(v.shape)) for v in trainable]
        if normalizer is not None:
            obs_size = int(normalizer.mean.shape[0])
            sizes += [obs_size, obs_size, 1]

        @compiled(input_signature=[tf.TensorSpec([None], tf.float32)])
        def apply_flat(flat):
            parts = tf.split(flat, sizes)
            gradients = [tf.reshape(part, v.shape) for part, v in zip(parts[: len(trainable)], trainable, strict=True)]
            self.optimizer.apply_gradients(zip(gradients, trainable, strict=True))
            if normalizer is not None:
                mean, variance, count = parts[len(trainable) :]
                normalizer.absorb_moments(mean, variance, count[0])
            return flat_weights(ordered)

        return apply_flat


def flat_weights(variables: list) -> tf.Tensor:
    """`variables` concatenated into one flat tensor: one output of a compiled call instead of one per
    variable, read with one `.numpy()`: a sixth of a small update's time saved."""
    return tf.concat([tf.reshape(v, [-1]) for v in variables], axis=0)


class LocalLink:
    """One worker thread's local weights, tied to the global model by its compiled steps.

    The local weights are plain variables shaped as the global model's (building a Keras model per
    worker took 0.1-0.2 s each at the start of every run, for variables and nothing else). They hold
    what the worker acts with, so the gradient is taken at them even when other workers have moved
    the global weights since.

    A thread's whole update -- gradient of the loss at the local weights, clipping, the optimizer step,
    the copy back -- is one call under the lock. A gradient call outside the lock and an update call
    under it (so two threads could differentiate at once) gave fewer env steps/s, with one worker and
    with two: two calls cost more than the overlap gains (docs/design-notes.md).
    """

    def __init__(self, shared: GlobalModel) -> None:
        self.shared = shared
        self.local_variables = [
            tf.Variable(backing_variable(v), trainable=False) for v in shared.model.ordered_variables()
        ]

    def compile(self) -> None:
        """Trace the update that every worker thread shares, before any of them acts (its first call
        still pays ~0.1-0.2 s, as TensorFlow instantiates the traced graph: there is no other way to
        make it do that than an update)."""
        self.shared._train_local.trace(self.local_variables, *batch_signature(self.shared.model.spec))

    def pull(self) -> NumpyActorCritic:
        """Copy the global weights into the local ones; the worker acts with the result."""
        with self.shared.lock:
            weights = self.shared._copy_to(self.local_variables)
        return self.shared.model.acting_copy_of_flat(weights.numpy())

    def train(self, batch: Batch) -> tuple[NumpyActorCritic, tf.Tensor]:
        """Update the global model from one rollout, re-sync the local weights; returns the next policy,
        and the update's loss terms and gradient norm as one tensor (`UpdateStats.of` reads it)."""
        shared = self.shared
        with shared.lock:
            shared.follow_schedule()
            weights, stats = shared._train_local(
                self.local_variables, batch.states, batch.actions, batch.returns, batch.mask
            )
            shared.updates += 1
        return shared.model.acting_copy_of_flat(weights.numpy()), stats


class GradientLink:
    """A worker thread's channel when its gradients are taken where it acts (parallel/learner.py): it
    hands the global weights over flat and applies the gradients that come back, so the master's
    part of an update is the optimizer step alone."""

    def __init__(self, shared: GlobalModel) -> None:
        self.shared = shared

    def compile(self) -> None:
        """Trace the optimizer step before any worker acts, as `LocalLink.compile` does the update."""
        self.shared._apply_flat.trace(tf.TensorSpec([None], tf.float32))

    def pull(self) -> np.ndarray:
        return self.shared.flat_snapshot()

    def train(self, gradients: Gradients) -> tuple[np.ndarray, UpdateStats]:
        """Apply one rollout's gradients; returns the new weights, flat, and the update's loss terms."""
        return self.shared.apply_flat(gradients.flat), gradients.stats
