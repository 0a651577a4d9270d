"""The shared optimizer's learning rate under each --lr-schedule."""

from __future__ import annotations

import numpy as np
import pytest

from a3c_cartpole.a3c.global_model import GlobalModel, learning_rate
from a3c_cartpole.config import TrainConfig
from tests.conftest import build_mlp


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
    shared = GlobalModel(build_mlp(4, 2, 8), config, lambda: env_steps[0])
    assert float(shared.optimizer.learning_rate) == pytest.approx(1e-3)
    sizes = [int(v.shape.num_elements()) for v in shared.model.trainable_variables]
    for steps, expected in ((250, 7.5e-4), (990, 1e-5), (1003, 0.0)):  # the last rollout may overshoot
        env_steps[0] = steps
        shared.apply_flat(np.zeros(sum(sizes), dtype=np.float32))
        assert float(shared.optimizer.learning_rate) == pytest.approx(expected, rel=1e-6, abs=1e-12)  # float32
    assert shared.updates == int(shared.optimizer.iterations) == 3


@pytest.mark.parametrize("gradient", [1.0, 1e-4])
@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_first_step_of_each_optimizer_matches_its_update_rule(optimizer, gradient):
    # A gradient g on every weight, from fresh optimizer state, moves each weight by:
    #   Adam (Keras folds the bias corrections into the rate, so epsilon 1e-7 meets the raw second moment:
    #       lr * sqrt(1 - 0.999) / (1 - 0.9) * 0.1 g / (s g + 1e-7) = lr * s g / (s g + 1e-7), s = sqrt(0.001))
    #       g = 1: 0.1;  g = 1e-4: 0.1 * 3.1623e-6 / 3.2623e-6 = 0.09693
    #   RMSprop (rho 0.99; Keras puts epsilon under the root, so 1e-10 stands for PyTorch's 1e-5 outside it):
    #       lr * g / sqrt(0.01 * g^2 + 1e-10)
    #       g = 1: 0.1 / sqrt(0.0100000001) = 0.1;  g = 1e-4: 1e-5 / sqrt(2e-10) = 0.7071
    # (PyTorch's rule gives 0.1 and 0.5; Keras's own epsilon 1e-5 would give 0.09995 and 0.00316:
    # the small gradient is what tells the epsilons apart.) The tolerance is float32 rounding.
    lr = 0.1
    shared = GlobalModel(build_mlp(4, 2, 8), TrainConfig(lr=lr, optimizer=optimizer), lambda: 0)
    before = [np.asarray(v).copy() for v in shared.model.trainable_variables]
    sizes = [int(v.shape.num_elements()) for v in shared.model.trainable_variables]
    shared.apply_flat(np.full(sum(sizes), gradient, dtype=np.float32))
    expected = {
        ("adam", 1.0): 0.1,
        ("adam", 1e-4): 0.1 * np.sqrt(0.001) * 1e-4 / (np.sqrt(0.001) * 1e-4 + 1e-7),
        ("rmsprop", 1.0): 0.1 / np.sqrt(0.01 + 1e-10),
        ("rmsprop", 1e-4): 1e-5 / np.sqrt(2e-10),
    }[optimizer, gradient]
    for old, variable in zip(before, shared.model.trainable_variables, strict=True):
        np.testing.assert_allclose(old - np.asarray(variable), expected, rtol=1e-3)


def test_every_worker_thread_shares_one_traced_update_taken_at_its_own_local_weights():
    from a3c_cartpole.a3c.loss import clipped_gradients
    from a3c_cartpole.a3c.rollout import Batch

    # Large returns, so both heads' gradients exceed the norm and clipping per head changes them.
    config = TrainConfig(lr=0.01, clip_per_head=True, max_grad_norm=0.5)
    rng = np.random.default_rng(0)
    batch = Batch(
        rng.normal(size=(12, 4)).astype(np.float32),
        rng.integers(0, 2, size=12).astype(np.int32),
        rng.normal(50.0, 10.0, size=12).astype(np.float32),
        np.ones(12, dtype=np.float32),
    )
    shared = GlobalModel(build_mlp(4, 2, 8), config, lambda: 0)
    shared.connect().compile()  # as the master does, before the clock starts: traced for any batch size
    assert shared._train_local.function.experimental_get_tracing_count() == 1
    # The same updates, applied through a second global model from the same start, where the gradient is
    # taken eagerly at each worker's own local weights: here those of two other networks, as if the
    # workers had acted with weights the global model has since moved away from.
    reference = GlobalModel(build_mlp(4, 2, 8), config, lambda: 0)
    reference.model.load_snapshot(shared.snapshot())
    for stale in (build_mlp(4, 2, 8), build_mlp(4, 2, 8)):
        expected, _, _ = clipped_gradients(stale, batch.states, batch.actions, batch.returns, batch.mask, config)
        reference.apply_flat(np.concatenate([np.ravel(g) for g in expected]))
        link = shared.connect()
        for variable, array in zip(link.local_variables, stale.snapshot().arrays(), strict=True):
            variable.assign(array)
        policy, _ = link.train(batch)
        copied = [v.numpy() for v in link.local_variables]
        for new, local, acting in zip(shared.snapshot().arrays(), copied, policy.arrays(), strict=True):
            np.testing.assert_array_equal(new, local)  # the update copies the new weights back
            np.testing.assert_array_equal(new, acting)
    for trained, applied in zip(shared.snapshot().arrays(), reference.snapshot().arrays(), strict=True):
        np.testing.assert_allclose(trained, applied, rtol=1e-5, atol=1e-6)
    assert shared._train_local.function.experimental_get_tracing_count() == 1
