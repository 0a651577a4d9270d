"""Starting and ending the helper processes a run keeps beside it (solved checks, rollouts).

Each is `python -m <module>` talking pickles over its stdin and stdout: a plain subprocess, not
multiprocessing, so no user's `__main__` module is imported again in the child. A child ignores the
stop signals (a terminal, `timeout`, a batch scheduler or `kill -- -PGID` send them to the whole
process group; the parent decides when to stop) and exits when its stdin closes, which also happens
if the parent is killed.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any, BinaryIO

from a3c_cartpole.training.stop_signals import STOP_SIGNALS

PROTOCOL = pickle.HIGHEST_PROTOCOL  # 5: numpy arrays as raw buffers

ONE_THREAD_EACH = {
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
"""For a worker's process (numpy, and TensorFlow where it differentiates): the workers are the
parallelism, and a BLAS or TensorFlow thread pool in each competes with them for the same cores. On a
busy 2-core machine a MinAtar rollout of 80 steps took 65 ms with OpenBLAS's own threads and 4.5 ms
with one."""


NO_GPU = {"CUDA_VISIBLE_DEVICES": ""}
"""For a child that loads TensorFlow only to differentiate a worker's rollouts: a GPU, if any, is the master's."""


def spawn(module: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `python -m module` with pipes to its stdin and stdout (and `extra_env` in its environment)."""
    # The child imports what the parent could: a user's env module may sit on a path added at run time.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **ONE_THREAD_EACH, **(extra_env or {})}
    return subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)


def finish(child: subprocess.Popen) -> None:
    """Let the child end: closing its stdin ends its loop; kill it if it does not end soon."""
    try:
        child.stdin.close()
        child.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        child.kill()
        child.wait()


def ignore_stop_signals() -> None:
    """In the child: leave stop signals to the parent, which still needs this process to finish."""
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def serve(requests: BinaryIO, answers: BinaryIO, handle: Callable[[Any], Any], readable: Callable[[Any], Any]) -> None:
    """In the child: answer each pickled request with `handle(request)` until the parent closes the pipe.

    `handle` returns what the parent must see, an exception included; `readable(answer)` stands in
    for an answer that cannot be pickled (an exception of a user's env, say), so it still reaches the
    parent, as text. A parent that is gone (it exited at a second stop signal, or was killed) ends the loop.
    """
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        answer = handle(request)
        try:
            message = pickle.dumps(answer, protocol=PROTOCOL)
        except Exception:
            message = pickle.dumps(readable(answer), protocol=PROTOCOL)
        try:
            answers.write(message)
            answers.flush()
        except OSError:
            return
