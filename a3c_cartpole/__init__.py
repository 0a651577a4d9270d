"""A3C on CartPole (and other discrete gymnasium envs) with TensorFlow 2 / tf.keras.

Importing the package is cheap: TensorFlow loads only when training or a policy is needed.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_policy", "train"]


def __getattr__(name: str):
    if name == "load_policy":
        from a3c_cartpole.saved_policy import load_policy

        return load_policy
    if name == "train":
        from a3c_cartpole.master import train

        return train
    raise AttributeError(f"module 'a3c_cartpole' has no attribute {name!r}")
