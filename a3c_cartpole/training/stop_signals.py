"""SIGINT, SIGTERM and SIGHUP all stop training the way Ctrl-C does; a second one ends the process at once.

`timeout`, `docker stop`, Slurm and Kubernetes end a job with SIGTERM, and closing its terminal
sends SIGHUP. Python's default for both is to die on the spot, losing the weights, plot and run
record. Here the first of these signals is only noted; the master's loop looks for it at every poll
(about every 50 ms while training), stops the workers and writes everything learned. A second
signal exits at once with 128 + its number, for a user who would rather lose the last minutes than
wait.

The handler raises nothing. It used to raise an exception wherever the signal landed in the loop,
and a fresh-clone test run failed its SIGHUP test with TensorBoard holding 436 episode returns for
a run of 307 episodes: the exception came as TensorBoard's batch write returned, before the batch
was marked written, so the last write logged it again (tests/test_stopping.py lands a signal there).
Landing in a checkpoint or a pipe to the evaluation process, it could have done worse.
"""

from __future__ import annotations

import os
import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_words(signum: int) -> str:
    """How a stop reason names the signal: Ctrl-C for SIGINT, the signal's name otherwise."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class StopSignals:
    """Handlers of the stop signals for the duration of a `with` block; the old ones come back after.

    `received` is the first stop signal, once one came. Signal handlers can only be set in the main
    thread: a run started from another thread (the Python API) keeps the process's handlers, and
    Ctrl-C reaches it as Python delivers it.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc) -> None:
        for signum, handler in self._previous.items():  # None: a handler set outside Python, not restorable
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()

    def _handle(self, signum: int, _frame) -> None:
        if self.received is not None:
            os.write(2, f"a3c-cartpole: second stop signal ({signal.Signals(signum).name}): exiting at once\n".encode())
            os._exit(128 + signum)
        self.received = signum
