"""The shared optimizer's learning rate under each --lr-schedule."""

from __future__ import annotations

import numpy as np
import pytest

from a3c_cartpole.config import TrainConfig
from a3c_cartpole.global_model import GlobalModel, learning_rate
from a3c_cartpole.model import build_model


def test_constant_schedule_keeps_the_rate():
    config = TrainConfig(lr=3e-4, max_steps=1000)
    assert [learning_rate(config, steps) for steps in (0, 500, 1000, 5000)] == [3e-4] * 4


@pytest.mark.parametrize(("steps", "expected"), [(0, 1e-3), (200, 7.5e-4), (400, 5e-4), (800, 0.0), (900, 0.0)])
def test_linear_schedule_falls_with_env_steps_to_zero_at_the_budget(steps, expected):
    config = TrainConfig(lr=1e-3, lr_schedule="linear", max_steps=800)
    assert learning_rate(config, steps) == pytest.approx(expected, abs=1e-12)


def test_each_update_takes_the_rate_of_the_steps_done_so_far():
    config = TrainConfig(lr=1e-3, lr_schedule="linear", max_steps=1000)
    env_steps = [0]
    shared = GlobalModel(build_model(4, 2, 8), config, lambda: env_steps[0])
    assert float(shared.optimizer.learning_rate) == pytest.approx(1e-3)
    sizes = [int(v.shape.num_elements()) for v in shared.model.trainable_variables]
    for steps, expected in ((250, 7.5e-4), (990, 1e-5), (1003, 0.0)):  # the last rollout may overshoot
        env_steps[0] = steps
        shared.apply_flat(np.zeros(sum(sizes), dtype=np.float32))
        assert float(shared.optimizer.learning_rate) == pytest.approx(expected, rel=1e-6, abs=1e-12)  # float32
    assert shared.updates == int(shared.optimizer.iterations) == 3
