"""The shared optimizer's learning rate under each --lr-schedule."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from a3c_cartpole.config import TrainConfig
from a3c_cartpole.global_model import GlobalModel, learning_rate
from a3c_cartpole.model import build_model


def _after_updates(config: TrainConfig, updates: int) -> float:
    """The optimizer's learning rate after `updates` Adam steps with zero gradients."""
    shared = GlobalModel(build_model(4, 2, 8), learning_rate(config))
    variables = shared.model.trainable_variables
    for _ in range(updates):
        shared.optimizer.apply_gradients([(tf.zeros_like(v), v) for v in variables])
    return float(shared.optimizer.learning_rate)


def test_constant_schedule_keeps_the_rate():
    assert _after_updates(TrainConfig(lr=3e-4), 7) == pytest.approx(3e-4)


@pytest.mark.parametrize(("updates", "expected"), [(0, 1e-3), (10, 7.5e-4), (20, 5e-4), (40, 0.0), (45, 0.0)])
def test_linear_schedule_reaches_zero_when_the_step_budget_is_spent(updates, expected):
    # 4 envs x 5 steps = 20 env steps per update, so a budget of 800 steps is 40 updates.
    config = TrainConfig(lr=1e-3, lr_schedule="linear", max_steps=800, envs_per_worker=4, update_freq=5)
    assert _after_updates(config, updates) == pytest.approx(expected, abs=1e-9)


def test_linear_schedule_rounds_a_partial_last_update_up():
    # 810 steps need 41 updates of 20; after 41 the rate is 0, after 40 one update's share is left.
    config = TrainConfig(lr=1e-3, lr_schedule="linear", max_steps=810, envs_per_worker=4, update_freq=5)
    assert _after_updates(config, 40) == pytest.approx(1e-3 / 41)
    assert np.isclose(_after_updates(config, 41), 0.0)
