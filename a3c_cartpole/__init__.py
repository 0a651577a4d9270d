"""A3C on CartPole (and other discrete gymnasium envs) with TensorFlow 2 / tf.keras.

    train(env=..., ...)     train an agent; the keywords are the flags of `a3c-cartpole --train`
    load_policy(path)       a trained agent as a function: observation -> greedy action
    make_env(env_id)        the env as the agent sees it (a game's preprocessing), for your own loop

Importing the package is cheap: TensorFlow loads, with its start-up chatter muted, only when
training or a policy is needed.
"""

from __future__ import annotations

import importlib

from a3c_cartpole.api import make_env, train
from a3c_cartpole.config import ConfigError

__version__ = "0.1.0"

__all__ = ["ConfigError", "GreedyPolicy", "TrainResult", "__version__", "load_policy", "make_env", "train"]

# Public names whose modules import TensorFlow: loaded on first use.
_NEEDS_TENSORFLOW = {
    "GreedyPolicy": "a3c_cartpole.playback.saved_policy",
    "TrainResult": "a3c_cartpole.training.result",
    "load_policy": "a3c_cartpole.playback.saved_policy",
}


def __getattr__(name: str):
    if name in _NEEDS_TENSORFLOW:
        from a3c_cartpole.tf_setup import import_tensorflow_quietly

        import_tensorflow_quietly()
        return getattr(importlib.import_module(_NEEDS_TENSORFLOW[name]), name)
    raise AttributeError(f"module 'a3c_cartpole' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names only: what `dir(a3c_cartpole)` and completion show a user."""
    return sorted(__all__)
