"""A3C worker: sync with the global model, act t_max steps, push the gradient, repeat.

`Worker` is a thread against the in-process global model, where gradient and update are one
compiled call (`LocalLink.train`) at local weights the global model keeps for it. It acts its
rollouts itself (backend "threads", a `RolloutCollector`) or has a child process act them
("processes", a `RolloutProcess`). With `--gradients workers` the child differentiates its rollout
too and sends the gradients back, which the thread applies (`GradientLink.train`). Ray's
actors differentiate where they act as well (parallel/ray_backend.py); all of them use a `Learner`
(parallel/learner.py), which builds a local model and traces the same `clipped_gradients` on it.

Acting is numpy (see networks/actor_critic.py); the gradient with respect to the local copy is one compiled
TensorFlow call on a fixed-shape, masked batch, so it is traced once.
"""

from __future__ import annotations

import threading

from a3c_cartpole.a3c.global_model import GradientLink, LocalLink
from a3c_cartpole.a3c.ledger import EpisodeLedger
from a3c_cartpole.a3c.loss import UpdateStats
from a3c_cartpole.a3c.rollout import Rollouts


class Worker(threading.Thread):
    """One asynchronous actor-learner thread pushing to the in-process global model."""

    def __init__(
        self, worker_id: int, rollouts: Rollouts, link: LocalLink | GradientLink, ledger: EpisodeLedger
    ) -> None:
        super().__init__(name=f"a3c-worker-{worker_id}", daemon=True)
        self.worker_id = worker_id
        self.rollouts = rollouts
        self.link = link
        self.ledger = ledger
        self._stats = None  # of the latest update, as the compiled step returned them: read when logged
        self.error: BaseException | None = None
        self.stopped_the_run = False
        """Its failure was the run's stop reason: when several workers fail at once, the one reported."""

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
                rollout = self.rollouts.collect(policy, self._report)  # or its gradients
                if rollout is None:
                    break
                policy, self._stats = self.link.train(rollout)
        except BaseException as err:  # handed to the master, which reports it
            self.error = err
            self.stopped_the_run = self.ledger.request_stop(f"worker {self.worker_id} failed: {err}")
        finally:
            self.rollouts.close()
