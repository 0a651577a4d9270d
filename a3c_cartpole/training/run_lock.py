"""One training run per save dir and env at a time: an exclusive `flock` on `<save-dir>/.<env>.lock`.

Two runs writing into one folder interleave their weights, CSV, checkpoints and TensorBoard files
until neither run's results are whole. A run takes this lock before it writes or removes anything
and keeps it until its last file is written; a second run is refused while the first holds it.

`fcntl.flock` is used rather than "does the lock file exist": the kernel drops the lock when the
holding process ends, however it ends (`kill -9`, a crash, a lost node), so a lock file left behind
never blocks the next run and there is no stale lock to clean up by hand. The file stays in place
(removing it would let a late-comer lock a deleted file); it holds the holder's pid, for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from a3c_cartpole.config import ConfigError


class RunLock:
    """The lock of one env's run in one save dir."""

    def __init__(self, path: Path, what: str) -> None:
        """`what` names the run in the refusal, e.g. "a3c_runs (CartPole-v1)"."""
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or refuse (ConfigError) if another run holds it. Creates the lock file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._take(fd)
        except ConfigError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None

    def ensure_free(self) -> None:
        """Refuse at once if another run holds the lock, without taking it and without creating anything."""
        holder = self.holder()
        if holder is not None:
            raise ConfigError(self._refusal(holder))

    def holder(self) -> str | None:
        """The pid of the run holding the lock (as it wrote it), or None if no run does; takes nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file (or no save dir yet): nobody is training there
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        finally:
            os.close(fd)  # drops the lock if it was taken here
        return None

    def _refusal(self, holder: str) -> str:
        return f"{self.what} is being trained by another process (pid {holder}); wait for it or use another --save-dir"

    def _take(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise ConfigError(self._refusal(holder)) from None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *_exc) -> None:
        self.release()
