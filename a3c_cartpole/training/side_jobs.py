"""The master's side jobs: what a run does besides training, each called at every poll and at the end.

As Stable-Baselines3 calls its callbacks, the master calls each `SideJob` with the same `Tick` (the
episode log, the env steps and the seconds it saw at that poll), then once more when the workers
have stopped. The jobs here keep the run's files: live progress, TensorBoard, checkpoints with the
CSV, the plot and the weights. The solved checks are one too (training/solved_checks.py).
"""

from __future__ import annotations

import dataclasses
import time

from a3c_cartpole.a3c.global_model import GlobalModel
from a3c_cartpole.a3c.ledger import EpisodeLedger, EpisodeRecord
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.evaluation.solved_check import SolvedCheck
from a3c_cartpole.parallel.evaluation_process import EvaluationProcess, EvaluationProcessFailed
from a3c_cartpole.parallel.workers import WorkerGroup
from a3c_cartpole.playback.saved_policy import save_weights
from a3c_cartpole.training.checkpoints import TrainingCheckpoints
from a3c_cartpole.training.outputs import (
    MOVING_AVERAGE_WINDOW,
    DiskReserve,
    RunFiles,
    write_episodes_csv,
    write_plot,
)
from a3c_cartpole.training.progress import ProgressPrinter
from a3c_cartpole.training.tensorboard_log import TrainingBoard

# How often the CSV is rewritten while training, between checkpoints.
CSV_EVERY_SECONDS = 10.0
# Bytes kept on the disk for the run record (and an error log), beyond the two weights files.
RECORD_ROOM = 64 * 1024


@dataclasses.dataclass(frozen=True)
class Tick:
    """What the master saw at one poll, the same for every side job."""

    episodes: list[EpisodeRecord]
    steps: int
    seconds: float
    """Since training started (a resumed run's clock continues)."""

    @classmethod
    def of(cls, ledger: EpisodeLedger) -> Tick:
        episodes, steps = ledger.snapshot()
        return cls(episodes, steps, time.perf_counter() - ledger.start_time)


class SideJob:
    """A job beside training; each method does nothing unless the job needs it."""

    def on_tick(self, tick: Tick) -> None:
        """At each poll (20 a second): cheap unless it is time to act."""

    def on_end(self, end: Tick) -> None:
        """Once the workers have stopped, in the order of the jobs: the run's last word."""

    def close(self) -> None:
        """After every job's end: wait for what runs elsewhere."""


class ShowProgress(SideJob):
    """The live status line: episodes, env steps/s, the moving average and the best evaluation."""

    def __init__(self, progress: ProgressPrinter, ledger: EpisodeLedger, check: SolvedCheck) -> None:
        self.progress, self.ledger, self.check = progress, ledger, check

    def on_tick(self, tick: Tick) -> None:
        best = None if self.check.best is None else self.check.best.mean
        self.progress.update(len(tick.episodes), tick.steps, self.ledger.recent_mean(MOVING_AVERAGE_WINDOW), best)


class LogToTensorBoard(SideJob):
    """New episodes, throughput, learning rate and the workers' loss terms, about once a second."""

    def __init__(self, board: TrainingBoard, workers: WorkerGroup, shared: GlobalModel) -> None:
        self.board, self.workers, self.shared = board, workers, shared

    def _learning_rate(self) -> float:
        return float(self.shared.optimizer.learning_rate)

    def on_tick(self, tick: Tick) -> None:
        self.board.poll(tick.episodes, tick.steps, self.workers.latest_stats, self._learning_rate)

    def on_end(self, end: Tick) -> None:
        self.board.episodes(end.episodes)
        self.board.stats(end.steps, self.workers.latest_stats(), self._learning_rate())
        self.board.close()


class Checkpointing(SideJob):
    """A checkpoint every `checkpoint_every` updates and at the end (after Ctrl-C too), each with the
    CSV it agrees with; the CSV alone every CSV_EVERY_SECONDS in between."""

    def __init__(
        self,
        checkpoints: TrainingCheckpoints,
        ledger: EpisodeLedger,
        check: SolvedCheck,
        workers: WorkerGroup,
        files: RunFiles,
    ) -> None:
        self.checkpoints, self.ledger, self.check, self.workers = checkpoints, ledger, check, workers
        self.files = files
        self._last_csv = time.perf_counter()

    def _save(self, seconds: float) -> None:
        self.checkpoints.save(self.ledger, self.check, self.workers, seconds)
        self._last_csv = time.perf_counter()

    def on_tick(self, tick: Tick) -> None:
        if self.checkpoints.due():
            self._save(tick.seconds)
        elif time.perf_counter() - self._last_csv > CSV_EVERY_SECONDS:
            write_episodes_csv(self.files.episodes_csv, tick.episodes)
            self._last_csv = time.perf_counter()

    def on_end(self, end: Tick) -> None:
        self._save(end.seconds)


class Plot(SideJob):
    """The plot of the run, drawn in the evaluation process (which loaded matplotlib while training
    ran) while the other jobs write their files; drawn here if that process is gone."""

    def __init__(self, evaluator: EvaluationProcess, files: RunFiles, info: EnvInfo, check: SolvedCheck) -> None:
        self.evaluator, self.files, self.info, self.check = evaluator, files, info, check
        self._plot: tuple = ()
        self._handed_over = False

    def on_end(self, end: Tick) -> None:
        solved_episode = None if self.check.solved_at is None else self.check.solved_at.episode
        threshold = self.info.reward_threshold
        self._plot = (self.files.plot, end.episodes, self.info.env_id, threshold, solved_episode, self.check.history)
        self._handed_over = submit_plot(self.evaluator, self._plot)

    def close(self) -> None:
        if not (self._handed_over and plot_drawn(self.evaluator)):
            write_plot(*self._plot)


def submit_plot(evaluator: EvaluationProcess, plot: tuple) -> bool:
    """Hand the plot to the evaluation process; False if it is gone (the master then draws it)."""
    try:
        evaluator.submit(write_plot, plot, None)
    except EvaluationProcessFailed:  # the child died: the master draws the plot
        return False
    return True


def plot_drawn(evaluator: EvaluationProcess) -> bool:
    """Wait for the plot; False if the evaluation process died first. A failed write is raised."""
    try:
        evaluator.collect(timeout=None)
    except EvaluationProcessFailed:
        return False
    return True


class FinalWeights(SideJob):
    """The best and the final model's weights, written once at the end by the shared model, done training:
    the first files of the run's end, best first, into room kept on the disk for them while the run
    trained (`reserve`), so a disk that fills up still gets what was learned."""

    def __init__(
        self, shared: GlobalModel, check: SolvedCheck, info: EnvInfo, files: RunFiles, reserve: DiskReserve
    ) -> None:
        self.shared, self.check, self.info, self.files, self.reserve = shared, check, info, files, reserve

    def on_end(self, end: Tick) -> None:
        final = self.shared.snapshot()  # before the writer, the shared model itself, takes the best weights
        self.reserve.shrink(RECORD_ROOM)
        if self.check.best_policy is not None:  # None when a resumed run never beat the saved best
            save_weights(self.check.best_policy, self.info, self.files.best_weights, writer=self.shared.model)
        save_weights(final, self.info, self.files.final_weights, writer=self.shared.model)
