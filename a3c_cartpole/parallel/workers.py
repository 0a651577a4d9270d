"""The workers of a run as the master sees them, however they act: threads, processes or Ray actors.

The master starts a `WorkerGroup`, watches it, stops it, checkpoints its action-sampling states
and logs its loss terms; it never asks which backend it drives. `make_workers` picks the backend
and gives worker i the same seeds whichever it is (`worker_seeds`), so one worker trains alike on
all three.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple, Protocol

from gymnasium.envs.registration import EnvSpec

from a3c_cartpole.a3c.global_model import GlobalModel
from a3c_cartpole.a3c.ledger import EpisodeLedger
from a3c_cartpole.a3c.loss import UpdateStats
from a3c_cartpole.a3c.rollout import make_collector
from a3c_cartpole.a3c.worker import Worker
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.parallel.rollout_process import RolloutProcess


def worker_seeds(seed: int, i: int) -> tuple[int, list[int]]:
    """Worker i's env seed and action-sampling seed, the same on every backend: one worker trains alike on
    all three. Its envs take seeds from env seed on, so each worker has a block of 10,000 of its own."""
    return seed + 10_000 * (i + 1), [seed, i]


class WorkerFailure(NamedTuple):
    """Which worker failed, and how: the run saves what it learned, then raises it."""

    worker: int | str
    error: BaseException


class WorkerGroup(Protocol):
    """What the master does with its workers."""

    def start(self) -> None: ...

    def running(self) -> bool:
        """Whether any worker still acts."""
        ...

    def join(self) -> None:
        """Wait for every started worker to end (after the ledger's stop)."""
        ...

    def close_unstarted(self) -> None:
        """Release what workers that never started hold (a run that failed before they did)."""
        ...

    def resume_states(self) -> list:
        """Each worker's rollouts' state (sampling, reward scale), for a checkpoint; empty where the master
        cannot read them."""
        ...

    def restore_resume_states(self, states: list) -> None:
        """Give each worker its checkpointed state back (ignored if the worker count changed)."""
        ...

    def latest_stats(self) -> list[UpdateStats | None]:
        """The loss terms of each worker's latest update (None before its first)."""
        ...

    def failure(self) -> WorkerFailure | None: ...


class ThreadWorkers:
    """Worker threads of this process, each acting its rollouts itself or in a child process of its own."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def running(self) -> bool:
        return any(worker.is_alive() for worker in self.workers)

    def join(self) -> None:
        for worker in self.workers:
            if worker.ident is not None:
                worker.join()

    def close_unstarted(self) -> None:
        """A worker closes its rollouts when it ends; one that never started leaves its child process waiting."""
        for worker in self.workers:
            if worker.ident is None:
                worker.rollouts.close()

    def resume_states(self) -> list:
        return [worker.rollouts.resume_state for worker in self.workers]

    def restore_resume_states(self, states: list) -> None:
        if len(states) != len(self.workers):
            return
        for worker, state in zip(self.workers, states, strict=True):
            worker.rollouts.resume_state = state

    def latest_stats(self) -> list[UpdateStats | None]:
        return [worker.last_stats for worker in self.workers]

    def failure(self) -> WorkerFailure | None:
        failed = [worker for worker in self.workers if worker.error is not None]
        if not failed:
            return None
        first = next((worker for worker in failed if worker.stopped_the_run), failed[0])
        return WorkerFailure(first.worker_id, first.error)


def make_workers(
    config: TrainConfig,
    info: EnvInfo,
    seed: int,
    shared: GlobalModel,
    ledger: EpisodeLedger,
    registration: EnvSpec | None,
    say: Callable[[str], None],
) -> WorkerGroup:
    """The run's workers, on `config.backend`; `registration`: the env's spec for another process, None
    if none can make it (the solved check's); `say` tells the user why processes fall back to threads."""
    if config.backend == "ray":  # one driver thread feeding Ray actors
        from a3c_cartpole.parallel.ray_backend import RayWorkerPool

        return RayWorkerPool(config, info, seed, shared, ledger)
    rollouts, gradients_where_acted = make_collector, False
    if config.backend == "processes":
        if registration is None:
            say(
                f"{info.env_id} is defined in this process only (in __main__ or in a function), "
                "so no other process can make it: the workers act in threads and the solved checks run here"
            )
        else:
            gradients_where_acted = config.gradients == "workers"
            rollouts = functools.partial(RolloutProcess, registration=registration, gradients=gradients_where_acted)
    # every child starts before the first worker thread needs its own
    sources = [rollouts(config, info, *worker_seeds(seed, i)) for i in range(config.workers)]
    workers = [Worker(i, source, shared.connect(gradients_where_acted), ledger) for i, source in enumerate(sources)]
    workers[0].link.compile()  # before the clock starts (and while any children start)
    if gradients_where_acted:  # each child loads TensorFlow: seconds that are not training
        for source in sources:
            source.wait_until_ready()
    return ThreadWorkers(workers)
