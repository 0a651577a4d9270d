"""A worker's rollouts and a local model of its own, differentiated where they live: the Ray actors' learner.

Worker threads train through the global model's one shared step (a3c/global_model.py); a
transport that applies gradients elsewhere (Ray) computes them here, with the same
`clipped_gradients` traced on a local model, so both train alike.
"""

from __future__ import annotations

import functools

from a3c_cartpole.a3c.loss import UpdateStats, clipped_gradients, stack_stats
from a3c_cartpole.a3c.rollout import Batch, StepReport, make_collector
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.networks.acting_copy import NumpyActorCritic
from a3c_cartpole.networks.actor_critic import ActingCopies
from a3c_cartpole.networks.build import build_model
from a3c_cartpole.networks.spec import network_for
from a3c_cartpole.parallel.tf_runtime import batch_signature, compiled


def make_gradient_step(model: ActingCopies, config: TrainConfig):
    """Compile loss-and-gradient for `model`; returns (clipped gradients, `stack_stats` of the update)."""

    # jit_compile stays off: XLA is no faster for a net this small and compiles for ~0.4 s
    @compiled(input_signature=batch_signature(model.spec))
    def gradient_step(states, actions, returns, mask):
        gradients, terms, norm = clipped_gradients(model, states, actions, returns, mask, config)
        return gradients, stack_stats(terms, norm)

    return gradient_step


class Learner:
    """A worker's rollouts and a local model of its own: turns the current weights into one gradient (Ray)."""

    def __init__(self, config: TrainConfig, info: EnvInfo, env_seed: int, rng_seed) -> None:
        self.collector = make_collector(config, info, env_seed, rng_seed)
        self.config, self.info = config, info

    @functools.cached_property
    def model(self) -> ActingCopies:
        """Built on first use, as the gradient step: only a transport that applies gradients elsewhere
        (Ray) differentiates here; worker threads train through the global model's one shared step, at
        local weights the global model gives them."""
        config, info = self.config, self.info
        return build_model(network_for(config, info))

    @functools.cached_property
    def gradient_step(self):
        return make_gradient_step(self.model, self.config)

    def gradients(self, policy: NumpyActorCritic, report: StepReport) -> tuple[list, UpdateStats, Batch] | None:
        """Act with `policy` (a copy of the local weights) and differentiate the loss; None if stopped.

        The batch comes back too: its observations feed the global model's normalizer, if it has one.
        """
        batch = self.collector.collect(policy, report)
        if batch is None:
            return None
        gradients, stats = self.gradient_step(batch.states, batch.actions, batch.returns, batch.mask)
        return gradients, UpdateStats.of(stats), batch

    def close(self) -> None:
        self.collector.close()
