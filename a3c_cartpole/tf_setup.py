"""Importing TensorFlow without its start-up chatter on the user's terminal.

TensorFlow 2.19+ prints oneDNN, CUDA and absl notices from C++ while it loads, even with
TF_CPP_MIN_LOG_LEVEL set (tensorflow/tensorflow#100442). They are noise on a CPU machine, so the
C++ stderr is muted for the import and the device probe only; Python errors still surface.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def _muted_stderr_fd():
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _unimportable(module: str):
    """`import module` raises ImportError inside, unless it was imported before; importable again after."""
    blocked = module not in sys.modules
    if blocked:
        sys.modules[module] = None  # the import system's own marker for "not importable"
    try:
        yield
    finally:
        if blocked and sys.modules.get(module, "") is None:
            del sys.modules[module]


def import_tensorflow_quietly() -> None:
    """Load TensorFlow and probe its devices once, with C++ logging muted.

    Keras imports matplotlib.pyplot while it loads, if it can, for an image-gallery helper this package
    never calls, which slows every run's start (docs/design-notes.md). The plot is drawn
    in the evaluation process, so matplotlib is kept out of TensorFlow's import; it stays importable after.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    with _muted_stderr_fd(), _unimportable("matplotlib"):
        import tensorflow as tf

        tf.config.list_physical_devices()
    # e.g. a failed --resume: the one-line error is the message, not TF's notes on unrestored values
    tf.get_logger().setLevel("ERROR")
