"""Live progress on the terminal while training, and the lines that open a run.

On a terminal one status line is rewritten in place; in a log file (no TTY) a line is appended
every few seconds instead, so CI logs stay short. The opening lines say what the run will do before
it does it: when it stops, and how much of the machine its workers use.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from a3c_cartpole.evaluation.solved_check import CONFIRM_STANDARD_ERRORS

if TYPE_CHECKING:
    from a3c_cartpole.config import TrainConfig
    from a3c_cartpole.envs.spec import EnvInfo


def budget_words(config: TrainConfig) -> str:
    """The run's budget as a user set it: "--max-eps 20,000", with " / --max-steps N" if one is set."""
    budget = f"--max-eps {config.max_eps:,}"
    if config.max_steps is not None:
        budget += f" / --max-steps {config.max_steps:,}"
    return budget


def plural(n: int, noun: str) -> str:
    """ "1 worker", "2 workers": messages read as sentences."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def opening_lines(config: TrainConfig, info: EnvInfo, seed: int) -> list[str]:
    """What the run trains, when it stops and which model it keeps; then where its workers act.

    The solved rule is said whole, the confirmation's margin included: a run that passes a set at 476
    and is not solved would otherwise look like a bug.

    A run with early stopping off (Acrobot's preset turns it off) passes the solved check and trains on:
    said here, so a pass followed by more training surprises nobody.
    """
    preset = f"preset {config.preset}" if config.preset else "no preset"
    if info.reward_threshold is None:
        goal = "the env sets no solved threshold"
    else:
        n = f"{config.eval_episodes:,}"
        margin = f"{CONFIRM_STANDARD_ERRORS:g} standard errors"
        goal = (
            f"solved = a greedy mean >= {info.reward_threshold:g} over {n} episodes, "
            f"confirmed over {n} fresh ones with a margin of {margin}"
        )
    if config.early_stop and info.reward_threshold is not None:
        plan = f"stops when solved, or at {budget_words(config)}"
    else:
        plan = f"trains its whole budget ({budget_words(config)}) and keeps the best evaluated model"
    return [f"Training A3C on {config.env_id} ({preset}), seed {seed}: {goal}; {plan}.", _workers_line(config)]


def _workers_line(config: TrainConfig) -> str:
    """Where the workers act, and how to use more of the machine: with threads, Python's GIL lets the
    workers act about as fast as one (docs/benchmark.md: two threads, 0.92x to 0.95x one's env steps/s)."""
    team = f"{plural(config.workers, 'worker')} x {plural(config.envs_per_worker, 'env')}"
    if config.backend == "processes":
        who = "and differentiating " if config.gradients == "workers" else ""
        return f"{team}, each worker acting {who}in a process of its own."
    if config.backend == "ray":
        return f"{team}, as Ray actors."
    if config.workers == 1:
        return f"{team}, in this process (--workers N --backend processes acts on N cores)."
    return (
        f"{team}, as threads of this process: they act at about one core's speed (Python's GIL); "
        "--backend processes gives each worker a core."
    )


class ProgressPrinter:
    """Prints episodes, env steps/s, the moving average and the best evaluation."""

    def __init__(self, enabled: bool, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty()
        self.interval = 0.5 if self.interactive else 5.0
        self._last_time = time.perf_counter()
        self._last_steps = 0
        self._last_print = 0.0
        self._line_open = False

    def start(self, steps: int) -> None:
        """Count steps/s from now on (a resumed run starts with its earlier steps)."""
        self._last_time = self._last_print = time.perf_counter()
        self._last_steps = steps

    def update(self, episodes: int, steps: int, moving_average: float | None, best_eval: float | None) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self._last_print < self.interval:
            return
        rate = (steps - self._last_steps) / max(now - self._last_time, 1e-9)
        self._last_time, self._last_steps, self._last_print = now, steps, now
        avg = "-" if moving_average is None else f"{moving_average:.1f}"
        best = "-" if best_eval is None else f"{best_eval:.1f}"
        line = (
            f"episodes {episodes:>6,} | steps {steps:>9,} | {rate:>8,.0f} steps/s | "
            f"avg100 {avg:>6} | best eval {best:>6}"
        )
        if self.interactive:
            self.stream.write("\r" + line)
            self._line_open = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own (evaluations, the summary), never glued to the status line."""
        if not self.enabled:
            return
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        self.stream.write(text + "\n")
        self.stream.flush()
