"""A3C worker: sync with the global model, act t_max steps, push the gradient, repeat.

`Worker` is a thread against the in-process global model, where gradient and update are one
compiled call (`LocalLink.train`) at local weights the global model keeps for it. It acts its
rollouts itself (backend "threads", a `RolloutCollector`) or has a child process act them
("processes", a `RolloutProcess`). A transport that applies gradients elsewhere (Ray, see
ray_backend.py) uses a `Learner`, which builds a local model and traces the same
`clipped_gradients` on it.

Acting is numpy (see model.py); the gradient with respect to the local copy is one compiled
TensorFlow call on a fixed-shape, masked batch, so it is traced once.
"""

from __future__ import annotations

import functools
import threading

from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs import EnvInfo
from a3c_cartpole.global_model import LocalLink
from a3c_cartpole.ledger import EpisodeLedger
from a3c_cartpole.loss import UpdateStats, batch_signature, clipped_gradients, compiled, stack_stats
from a3c_cartpole.model import ActorCriticModel, NumpyActorCritic, build_model
from a3c_cartpole.rollout import Batch, Rollouts, StepReport, make_collector


def make_gradient_step(model: ActorCriticModel, obs_size: int, config: TrainConfig):
    """Compile loss-and-gradient for `model`; returns (clipped gradients, `stack_stats` of the update)."""

    # jit_compile stays off: measured, XLA is no faster for a net this small and compiles for ~0.4 s
    @compiled(input_signature=batch_signature(obs_size))
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
    def model(self) -> ActorCriticModel:
        """Built on first use, as the gradient step: only a transport that applies gradients elsewhere
        (Ray) differentiates here; worker threads train through the global model's one shared step, at
        local weights the global model gives them."""
        config, info = self.config, self.info
        return build_model(
            info.obs_size, info.n_actions, config.hidden, config.layers, config.activation, config.normalize_obs
        )

    @functools.cached_property
    def gradient_step(self):
        return make_gradient_step(self.model, self.info.obs_size, self.config)

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


class Worker(threading.Thread):
    """One asynchronous actor-learner thread pushing to the in-process global model."""

    def __init__(self, worker_id: int, rollouts: Rollouts, link: LocalLink, ledger: EpisodeLedger) -> None:
        super().__init__(name=f"a3c-worker-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.rollouts = rollouts
        self.link = link
        self.ledger = ledger
        self._stats = None  # of the latest update, as the compiled step returned them: read when logged
        self.error: BaseException | None = None

    @property
    def last_stats(self) -> UpdateStats | None:
        """The loss terms of this worker's latest update (None before its first)."""
        return None if self._stats is None else UpdateStats.of(self._stats)

    def _report(self, n_steps, finished) -> bool:
        return self.ledger.report(self.worker_id, n_steps, finished)

    def run(self) -> None:
        try:
            policy = self.link.pull()  # act only after the first sync with the global model
            while not self.ledger.stopping:
                batch = self.rollouts.collect(policy, self._report)
                if batch is None:
                    break
                policy, self._stats = self.link.train(batch)
        except BaseException as err:  # handed to the master, which reports it
            self.error = err
            self.ledger.request_stop(f"worker {self.worker_id} failed: {err}")
        finally:
            self.rollouts.close()
