"""A worker's rollouts and a local model of its own, differentiated where they were acted.

Worker threads train through the global model's one shared step (a3c/global_model.py). Where one
learner differentiating every worker's rollouts would be the ceiling -- a conv net's gradient costs
several times its acting -- each worker takes its own gradients, as in the A3C paper: a `Learner`
in a worker process with `--gradients workers` (parallel/rollout_process.py), and in every Ray
actor (parallel/ray_backend.py). It traces the same `clipped_gradients` as the shared step, so
every backend trains alike.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from a3c_cartpole.a3c.loss import Gradients, UpdateStats, clipped_gradients, stack_stats
from a3c_cartpole.a3c.rollout import StepReport, make_collector
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.networks.acting_copy import flatten
from a3c_cartpole.networks.actor_critic import ActingCopies, batch_moments
from a3c_cartpole.networks.build import build_model
from a3c_cartpole.networks.spec import network_for
from a3c_cartpole.parallel.tf_runtime import batch_signature, compiled

FLAT = tf.TensorSpec([None], tf.float32)
"""Weights and gradients travel between processes as one flat float32 array each: one buffer is
cheaper to pickle or for Ray to ship than a dozen small ones."""


def make_gradient_step(model: ActingCopies, config: TrainConfig):
    """Compile loss-and-gradient for `model`; returns (clipped gradients, `stack_stats` of the update)."""

    # jit_compile stays off: XLA is no faster for a net this small and compiles for ~0.4 s
    @compiled(input_signature=batch_signature(model.spec))
    def gradient_step(states, actions, returns, mask):
        gradients, terms, norm = clipped_gradients(model, states, actions, returns, mask, config)
        return gradients, stack_stats(terms, norm)

    return gradient_step


class Learner:
    """A worker's rollouts and a local model of its own: turns the global weights into one gradient."""

    def __init__(self, config: TrainConfig, info: EnvInfo, env_seed: int, rng_seed) -> None:
        self.collector = make_collector(config, info, env_seed, rng_seed)
        self.model: ActingCopies = build_model(network_for(config, info))
        self.gradient_step = make_gradient_step(self.model, config)
        variables = self.model.ordered_variables()
        sizes = [int(np.prod(shape)) for shape in self.model.weight_shapes]

        @compiled(input_signature=[FLAT])
        def load(flat):
            for variable, part in zip(variables, tf.split(flat, sizes), strict=True):
                variable.assign(tf.reshape(part, variable.shape))

        self._load = load

    def warm_up(self) -> None:
        """Trace both steps now, while the run starts, not in the first rollout's time."""
        self._load.trace(FLAT)
        self.gradient_step.trace(*batch_signature(self.model.spec))

    @property
    def resume_state(self) -> dict:
        return self.collector.resume_state

    @resume_state.setter
    def resume_state(self, state: dict) -> None:
        self.collector.resume_state = state

    def gradients(self, flat_weights: np.ndarray, report: StepReport) -> Gradients | None:
        """Load the global weights, act one rollout with them and differentiate the loss at them;
        None if `report` stopped the rollout."""
        self._load(flat_weights)  # the gradient is taken at the weights acted with
        batch = self.collector.collect(self.model.acting_copy_of_flat(flat_weights), report)
        if batch is None:
            return None
        gradients, stats = self.gradient_step(batch.states, batch.actions, batch.returns, batch.mask)
        if self.model.observation_normalizer is not None:
            gradients = [*gradients, *batch_moments(batch.states)]
        return Gradients(flatten(gradients), UpdateStats.of(stats))

    def close(self) -> None:
        self.collector.close()
