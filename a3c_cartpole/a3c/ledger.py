"""The one place where workers' counts meet: episodes, env steps, and the reason to stop.

The tutorial kept these as class attributes that several threads read and wrote without a lock,
checked the best score outside it, and overshot --max-eps. Here every count changes under one
lock, an episode is either recorded once or refused, and the episode budget is exact.
"""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np

from a3c_cartpole.a3c.rollout import FinishedEpisode


@dataclasses.dataclass(frozen=True)
class EpisodeRecord:
    """One row of episodes.csv."""

    episode: int
    worker: int
    episode_return: float
    length: int
    global_step: int
    wall_time: float


class EpisodeLedger:
    """Thread-safe counters, the episode log and the stop flag of one training run."""

    def __init__(self, max_eps: int, max_steps: int | None) -> None:
        self.max_eps = max_eps
        self.max_steps = max_steps
        self.start_time = time.perf_counter()
        self.first_step_at: float | None = None
        """Epoch time of this session's first env step: the run record's timeline starts there."""
        self.episodes: list[EpisodeRecord] = []
        self.steps = 0
        self.stop_reason: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait_for_stop(self, timeout: float) -> bool:
        """Sleep up to `timeout` s, waking as soon as a stop is requested; True if one was."""
        return self._stop.wait(timeout)

    def request_stop(self, reason: str) -> bool:
        """Ask every worker to stop; the first reason given is the one reported (True if it was this one)."""
        with self._lock:
            return self._stop_locked(reason)

    def _stop_locked(self, reason: str) -> bool:
        first = self.stop_reason is None
        if first:
            self.stop_reason = reason
        self._stop.set()
        return first

    def report(self, worker: int, n_steps: int, finished: list[FinishedEpisode]) -> bool:
        """Count a worker's vector step; False once training must stop.

        Episodes beyond the budget are refused: they end after the last one the user asked for.
        """
        with self._lock:
            if self._stop.is_set():
                return False
            if self.first_step_at is None:
                self.first_step_at = time.time()
            self.steps += n_steps
            wall = time.perf_counter() - self.start_time
            for episode in finished:
                if len(self.episodes) >= self.max_eps:
                    break
                self.episodes.append(
                    EpisodeRecord(
                        len(self.episodes) + 1,
                        worker,
                        episode.episode_return,
                        episode.length,
                        self.steps,
                        wall,
                    )
                )
            if len(self.episodes) >= self.max_eps:
                self._stop_locked(f"episode budget of {self.max_eps:,} reached")
            elif self.max_steps is not None and self.steps >= self.max_steps:
                self._stop_locked(f"step budget of {self.max_steps:,} reached")
            return not self._stop.is_set()

    def restore(self, episodes: list[EpisodeRecord], steps: int) -> None:
        """Continue a resumed run's log and step count (before any worker starts)."""
        with self._lock:
            self.episodes, self.steps = list(episodes), steps

    def snapshot(self) -> tuple[list[EpisodeRecord], int]:
        """A consistent copy of the log and the step count, for progress, plot and CSV."""
        with self._lock:
            return list(self.episodes), self.steps

    def recent_mean(self, n: int) -> float | None:
        """Mean return of the last n training episodes (the tutorial's moving score)."""
        with self._lock:
            if not self.episodes:
                return None
            return float(np.mean([e.episode_return for e in self.episodes[-n:]]))
