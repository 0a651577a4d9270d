"""The solved checks, and the plot at the end, in a process of its own, so they never slow the workers.

Worker threads share one GIL, and the numpy forward passes and env steps of a check hold it: run on
the master thread, 100 greedy CartPole episodes took the workers' time, so checks had to be rare,
and a policy that could pass waited for the next look. Here the check runs in a child process (numpy
and gymnasium only, no TensorFlow), on the core the GIL leaves idle, while training goes on. The
child also loads matplotlib (and draws a first figure) while training runs, and draws the plot while
the parent saves the rest: at the end of a run, importing matplotlib alone took longer than writing
every other file.

One task is in flight at a time. The parent sends a pickled function (by name) and its arguments on
the child's stdin and a reader thread waits for the pickled answer on its stdout, so the master only
polls a queue. The child is started, and ends, as child_process.py describes. If it dies anyway, the
parent hears of it as `EvaluationProcessFailed` and stops the run, saving what was learned.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from a3c_cartpole.parallel import child_process
from a3c_cartpole.parallel.child_process import finish, ignore_stop_signals, spawn
from a3c_cartpole.training.outputs import remove_plotting_temp_dir, warm_up_plotting, write_plot

# What the child sends back: whether the task returned, its result (or the exception it raised), and
# the seconds it took.
TaskAnswer = tuple[bool, Any, float]


class EvaluationProcessFailed(RuntimeError):
    """The evaluation child died; the run stops and saves what it learned."""


class EvaluationProcess:
    """A child process that runs tasks (solved checks, the plot), one at a time, while the caller keeps going."""

    def __init__(self) -> None:
        self._child = spawn("a3c_cartpole.parallel.evaluation_process")
        self._answers: queue.Queue[TaskAnswer | BaseException] = queue.Queue()
        self._context: Any = None
        self.busy = False
        threading.Thread(target=self._read_answers, name="a3c-eval-reader", daemon=True).start()

    def _read_answers(self) -> None:
        try:
            while True:
                self._answers.put(pickle.load(self._child.stdout))
        except (EOFError, OSError, pickle.UnpicklingError) as err:  # the child exited or was killed
            self._answers.put(err)

    def submit(self, task: Callable, args: tuple, context: Any) -> None:
        """Start `task(*args)`; `task` must be importable by name. `context` comes back with its answer."""
        assert not self.busy, "one task at a time"
        try:
            pickle.dump((task, args), self._child.stdin)
            self._child.stdin.flush()
        except OSError as err:  # the child exited or was killed: its pipe is closed
            raise EvaluationProcessFailed(f"the evaluation process stopped ({err!r})") from err
        self._context = context
        self.busy = True

    def collect(self, timeout: float | None = 0.0) -> tuple[tuple[Any, float], Any] | None:
        """(The task's result, its seconds) and its context, or None if it is still running after
        `timeout` s. An exception the task raised is raised here."""
        if not self.busy:
            return None
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            return None
        self.busy = False
        if isinstance(answer, BaseException):
            raise EvaluationProcessFailed(f"the evaluation process stopped ({answer!r})") from answer
        returned, result, seconds = answer
        if not returned:
            raise result
        return (result, seconds), self._context

    def close(self) -> None:
        finish(self._child)


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Run tasks until the parent closes the pipe; a task's exception goes back to be raised there.

    The plot's first figure is drawn while the parent trains, not when the plot is due, and beside the
    checks, not before them: a check that waited for it held back every look of a run for ~1 s, in
    which CartPole trains ~20,000 env steps. Only the plot itself waits (pyplot is not thread-safe).
    """
    warming_up = threading.Thread(target=_warm_up_quietly, name="a3c-plot-warm-up", daemon=True)
    warming_up.start()

    def run_task(request: tuple[Callable, tuple]) -> TaskAnswer:
        task, args = request
        if task is write_plot:
            warming_up.join()
        start = time.perf_counter()
        try:
            answer = (True, task(*args))
        except Exception as err:  # e.g. OSError: the disk is full
            answer = (False, err)
        return (*answer, time.perf_counter() - start)

    child_process.serve(requests, answers, run_task, _as_text)


def _as_text(answer: TaskAnswer) -> TaskAnswer:
    """An answer that cannot be pickled, as an exception that can."""
    _, result, seconds = answer
    return False, RuntimeError(repr(result)), seconds


def _warm_up_quietly() -> None:
    """The warm-up only saves time: if it fails (a full disk, say), the plot task meets the same
    error and reports it to the parent, rather than a thread's traceback on the user's terminal."""
    with contextlib.suppress(Exception):
        warm_up_plotting()


if __name__ == "__main__":
    ignore_stop_signals()  # the parent still needs this process for the check in flight and the plot
    serve(sys.stdin.buffer, sys.stdout.buffer)
    # Every answer is flushed and every file renamed into place: skip the interpreter's teardown of
    # numpy, gymnasium and matplotlib (~0.3 s), which the parent would wait for at the end of a run.
    remove_plotting_temp_dir()
    os._exit(0)
