"""What a training run achieved: the result `train` returns, the closing summary and the run record."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from a3c_cartpole.config import TrainConfig
from a3c_cartpole.evaluation.solved_check import Evaluation, EvaluationPoint, SolvedCheck, format_mean_and_std
from a3c_cartpole.networks.spec import NetworkSpec
from a3c_cartpole.training.outputs import MOVING_AVERAGE_WINDOW, RunFiles
from a3c_cartpole.training.progress import plural

if TYPE_CHECKING:
    from a3c_cartpole.a3c.ledger import EpisodeLedger
    from a3c_cartpole.training.side_jobs import Tick


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a training run achieved, and where it put the files."""

    solved: bool
    episodes: int
    steps: int
    seconds: float
    stop_reason: str
    best_evaluation: Evaluation | None
    solved_at_episode: int | None
    solved_at_step: int | None
    solved_at_seconds: float | None
    training_moving_average: float | None
    seed: int
    """The run's seed: a resumed run keeps its first segment's (the run record lists every segment's)."""
    files: RunFiles
    evaluations: list[EvaluationPoint] = dataclasses.field(default_factory=list)
    """Every greedy evaluation of the run, in order (a resumed run's earlier ones included)."""
    interrupted_by: int | None = None
    """The signal (SIGINT for Ctrl-C) that stopped the run, if one did."""

    def __repr__(self) -> str:
        """The outcome at a glance, for a Python prompt (the looks and the files are attributes)."""
        best = "None" if self.best_evaluation is None else repr(self.best_evaluation.mean_and_std())
        return (
            f"TrainResult(solved={self.solved}, solved_at_episode={self.solved_at_episode}, "
            f"episodes={self.episodes}, steps={self.steps}, seconds={self.seconds:.1f}, best_eval={best}, "
            f"stop_reason={self.stop_reason!r}, seed={self.seed}, save_dir={str(self.files.save_dir)!r})"
        )

    def as_dict(self) -> dict:
        """The outcome, JSON-ready: the run record and `--train --json` report these fields."""
        best = self.best_evaluation
        return {
            "solved": self.solved,
            "solved_at_episode": self.solved_at_episode,
            "solved_at_step": self.solved_at_step,
            "solved_at_seconds": self.solved_at_seconds,
            "episodes": self.episodes,
            "steps": self.steps,
            "seconds": self.seconds,
            "stop_reason": self.stop_reason,
            "best_eval_mean": None if best is None else best.mean,
            "best_eval_std": None if best is None else best.std,
            "training_moving_average": self.training_moving_average,
            "seed": self.seed,
        }


def train_result(
    end: Tick, ledger: EpisodeLedger, check: SolvedCheck, seed: int, files: RunFiles, interrupted_by: int | None
) -> TrainResult:
    """The result of a run whose workers stopped at `end`."""
    solved_at = check.solved_at
    return TrainResult(
        solved=solved_at is not None,
        episodes=len(end.episodes),
        steps=end.steps,
        seconds=end.seconds,
        stop_reason=ledger.stop_reason or "stopped",
        best_evaluation=check.best,
        solved_at_episode=None if solved_at is None else solved_at.episode,
        solved_at_step=None if solved_at is None else solved_at.step,
        solved_at_seconds=None if solved_at is None else solved_at.seconds,
        training_moving_average=ledger.recent_mean(MOVING_AVERAGE_WINDOW),
        seed=seed,
        files=files,
        evaluations=list(check.history),
        interrupted_by=interrupted_by,
    )


def run_record(
    config: TrainConfig,
    network: NetworkSpec,
    result: TrainResult,
    updates: int,
    timeline: dict,
    failure: str | None = None,
) -> dict:
    """The run record: settings, network, outcome, every evaluation, where this session's time went, and
    what made it fail, if something did.

    The network's settings stay at the top level too, where records written before `network` have them.

    `timeline` holds epoch times (first env step, solved check passed, files written) and the seconds
    the solved checks took: with a process's start and exit, they give the fixed costs of a run.
    """
    return {
        "env_id": config.env_id,
        "env_kwargs": config.env_kwargs,
        "env_package": config.env_package,
        "hidden": config.hidden,
        "layers": config.layers,
        "activation": config.activation,
        "normalize_obs": config.normalize_obs,
        "network": network.as_record(),
        "preset": config.preset,
        "config": config.as_dict(),
        "updates": updates,
        **result.as_dict(),
        "evaluations": [point._asdict() for point in result.evaluations],
        "timeline": timeline,
        "failure": failure,
    }


def summary(result: TrainResult) -> str:
    """The closing lines: the verdict with the numbers of the look that gave it, which model the best
    weights hold and why, the tutorial's rule, and where the files are."""
    best, looks = result.best_evaluation, result.evaluations
    threshold = None if best is None else best.threshold
    lines = []
    if result.solved:
        passed = _look(looks, result.solved_at_episode, result.solved_at_step)
        score = "" if passed is None else f": that evaluation's greedy policy averaged {_score(passed, threshold)}"
        lines.append(
            f"SOLVED at episode {result.solved_at_episode:,}, {result.solved_at_step:,} env steps, "
            f"{result.solved_at_seconds:.1f} s{score} (threshold {threshold:g})."
        )
    else:
        lines.append(f"NOT SOLVED ({result.stop_reason}).")
    kept = _look(looks, mean=best.mean, std=best.std) if best is not None else None
    if best is None:
        lines.append("Best weights: none evaluated in this run; final weights: the model at the end.")
    elif kept is None:  # a checkpoint of an earlier version kept the best score, not when it was taken
        lines.append(f"Best weights: greedy mean {best.mean_and_std()}; final weights: the model at the end.")
    elif result.solved and (kept.episode, kept.step) == (result.solved_at_episode, result.solved_at_step):
        lines.append(
            f"Best weights: that evaluation's model, the highest of {_evaluations(looks)}; "
            "final weights: the model at the end."
        )
    else:
        lines.append(
            f"Best weights: the model evaluated at episode {kept.episode:,} ({kept.step:,} env steps), greedy mean "
            f"{_score(kept, threshold)}, the highest of {_evaluations(looks)}; "
            "final weights: the model at the end."
        )
    avg = "-" if result.training_moving_average is None else f"{result.training_moving_average:.1f}"
    lines.append(
        f"Trained {result.episodes:,} episodes, {result.steps:,} env steps in {result.seconds:.1f} s "
        f"({result.steps / max(result.seconds, 1e-9):,.0f} steps/s); mean of the last 100 training episodes "
        f"(the tutorial's rule): {avg}; training samples its actions, so this lags the greedy score."
    )
    lines.append(
        f"Files in {result.files.save_dir}/: best and final weights, episodes CSV, plot, run record; "
        "checkpoints/ and tensorboard/."
    )
    return "\n".join(lines)


def _evaluations(looks: list[EvaluationPoint]) -> str:
    """How many looks the best was chosen from; the terminal printed only the new bests, the plot has each."""
    return f"{plural(len(looks), 'evaluation')} (each in the plot)"


def _look(looks: list[EvaluationPoint], episode=None, step=None, mean=None, std=None) -> EvaluationPoint | None:
    """The evaluation taken at `episode` and `step`, or the first that scored `mean` and `std`."""
    for point in looks:
        if (point.episode, point.step) == (episode, step) or (point.mean, point.std) == (mean, std):
            return point
    return None


def _score(point: EvaluationPoint, threshold: float | None) -> str:
    return format_mean_and_std(point.mean, point.std, threshold)
