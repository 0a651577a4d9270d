"""Shared test setup: quiet TensorFlow, and hand-built numpy policies whose outputs are known."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from a3c_cartpole.networks.acting_copy import NumpyActorCritic
from a3c_cartpole.networks.spec import NetworkSpec


def build_mlp(obs_size: int, n_actions: int, hidden: int, layers: int = 1, activation="relu", normalize_obs=False):
    """The tutorial's MLP, built (TensorFlow loads here, on the first call)."""
    from a3c_cartpole.networks.build import build_model

    return build_model(NetworkSpec("mlp", (obs_size,), n_actions, hidden, layers, activation, normalize_obs))


def fixed_policy(obs_size: int, logits, value: float) -> NumpyActorCritic:
    """A policy whose logits and value ignore the observation: zero kernels, chosen biases."""
    logits = np.asarray(logits, dtype=np.float32)
    hidden = 1
    return NumpyActorCritic(
        (
            np.zeros((obs_size, hidden), np.float32),
            np.zeros(hidden, np.float32),
            np.zeros((hidden, len(logits)), np.float32),
            logits,
            np.zeros((obs_size, hidden), np.float32),
            np.zeros(hidden, np.float32),
            np.zeros((hidden, 1), np.float32),
            np.array([value], np.float32),
        )
    )


@pytest.fixture
def make_fixed_policy():
    return fixed_policy
