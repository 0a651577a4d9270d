"""Live progress on the terminal while training, and the closing summary.

On a terminal one status line is rewritten in place; in a log file (no TTY) a line is appended
every few seconds instead, so CI logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


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
