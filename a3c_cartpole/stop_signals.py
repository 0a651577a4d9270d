"""SIGINT, SIGTERM and SIGHUP all stop training the way Ctrl-C does; a second one ends the process at once.

`timeout`, `docker stop`, Slurm and Kubernetes end a job with SIGTERM, and closing its terminal
sends SIGHUP. Python's default for both is to die on the spot, losing the weights, plot and run
record. While a run trains, the first of these signals raises `StopRequested`, a KeyboardInterrupt,
so it takes Ctrl-C's path: the workers stop and everything learned is written. While the files are
being written, a first signal is only recorded, so the writing finishes. A second signal exits at
once with 128 + its number, for a user who would rather lose the last minutes than wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def signal_words(signum: int) -> str:
    """How a stop reason names the signal: Ctrl-C for SIGINT, the signal's name otherwise."""
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived while training: stop the workers and save, as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_words(signum))
        self.signum = signum


class StopSignals:
    """Handlers of the stop signals for the duration of a `with` block; the old ones come back after.

    Signal handlers can only be set in the main thread: a run started from another thread (the
    Python API) keeps the process's handlers, and Ctrl-C reaches it as Python delivers it.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._armed = False
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

    @contextlib.contextmanager
    def interrupting(self) -> Iterator[None]:
        """Within this block a first signal raises StopRequested; one that came earlier is raised on entry."""
        if self.received is not None:
            raise StopRequested(self.received)
        self._armed = True
        try:
            yield
        finally:
            self._armed = False

    def _handle(self, signum: int, _frame) -> None:
        if self.received is not None:
            os.write(2, f"a3c-cartpole: second stop signal ({signal.Signals(signum).name}): exiting at once\n".encode())
            os._exit(128 + signum)
        self.received = signum
        if self._armed:
            self._armed = False
            raise StopRequested(signum)
