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


def gradients_by_hand(config, info, flat_weights: np.ndarray, env_seed: int, rng_seed) -> np.ndarray:
    """One rollout's clipped gradients, flat (and the observation moments, with a normalizer), taken
    eagerly on a model and a collector of their own: what a worker that differentiates must send."""
    from a3c_cartpole.a3c.loss import clipped_gradients
    from a3c_cartpole.a3c.rollout import make_collector
    from a3c_cartpole.networks.acting_copy import flatten
    from a3c_cartpole.networks.actor_critic import batch_moments
    from a3c_cartpole.networks.build import build_model
    from a3c_cartpole.networks.spec import network_for

    model = build_model(network_for(config, info))
    policy = model.acting_copy_of_flat(flat_weights)
    model.load_snapshot(policy)
    collector = make_collector(config, info, env_seed, rng_seed)
    batch = collector.collect(policy, lambda n_steps, finished: True)
    collector.close()
    gradients, _, _ = clipped_gradients(model, batch.states, batch.actions, batch.returns, batch.mask, config)
    if model.observation_normalizer is not None:
        gradients = [*gradients, *batch_moments(batch.states)]
    return flatten(gradients)
