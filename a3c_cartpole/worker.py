"""A3C worker: sync with the global model, act t_max steps, push the gradient, repeat.

Acting is numpy (see model.py); the gradient of the loss with respect to the local copy is one
compiled TensorFlow call with a fixed input signature, so rollouts of any length reuse one trace.
"""

from __future__ import annotations

import threading
import typing

import tensorflow as tf

from a3c_cartpole.config import TrainConfig
from a3c_cartpole.global_model import LocalLink
from a3c_cartpole.ledger import EpisodeLedger
from a3c_cartpole.loss import a3c_loss
from a3c_cartpole.model import ActorCriticModel
from a3c_cartpole.rollout import RolloutCollector


class UpdateStats(typing.NamedTuple):
    """What one gradient step reports (for logs and TensorBoard)."""

    total: float
    policy: float
    value: float
    entropy: float
    grad_norm: float


def make_gradient_step(model: ActorCriticModel, obs_size: int, config: TrainConfig):
    """Compile loss-and-gradient for `model`; returns (clipped gradients, loss terms, gradient norm)."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, obs_size], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None], tf.float32),
        ],
        jit_compile=True,
    )
    def gradient_step(states, actions, returns):
        with tf.GradientTape() as tape:
            logits, values = model(states)
            terms = a3c_loss(logits, values, actions, returns, config.entropy_coef, config.value_coef)
        gradients = tape.gradient(terms.total, model.trainable_variables)
        norm = tf.linalg.global_norm(gradients)
        if config.max_grad_norm > 0:
            gradients, _ = tf.clip_by_global_norm(gradients, config.max_grad_norm, use_norm=norm)
        return gradients, terms, norm

    return gradient_step


class Worker(threading.Thread):
    """One asynchronous actor-learner with its own envs and local model."""

    def __init__(
        self,
        worker_id: int,
        link: LocalLink,
        collector: RolloutCollector,
        ledger: EpisodeLedger,
        config: TrainConfig,
        obs_size: int,
    ) -> None:
        super().__init__(name=f"a3c-worker-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.link = link
        self.collector = collector
        self.ledger = ledger
        self.gradient_step = make_gradient_step(link.local, obs_size, config)
        self.last_stats: UpdateStats | None = None
        self.error: BaseException | None = None

    def _report(self, n_steps, finished) -> bool:
        return self.ledger.report(self.worker_id, n_steps, finished)

    def run(self) -> None:
        try:
            policy = self.link.pull()
            while not self.ledger.stopping:
                batch = self.collector.collect(policy, self._report)
                if batch is None:
                    break
                gradients, terms, norm = self.gradient_step(batch.states, batch.actions, batch.returns)
                policy = self.link.push(gradients)
                self.last_stats = UpdateStats(*(float(x) for x in terms), float(norm))
        except BaseException as err:  # noqa: BLE001 -- handed to the master, which reports it
            self.error = err
            self.ledger.request_stop(f"worker {self.worker_id} failed: {err}")
        finally:
            self.collector.envs.close()
