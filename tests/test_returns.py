"""n-step and lambda-returns, checked against values worked out by hand (SPEC §3: bootstrap rules)."""

import numpy as np
import pytest

from a3c_cartpole.a3c.rollout import lambda_returns

F, T = False, True


def returns_of(rewards, terminated, truncated, next_values, gamma, lam=1.0):
    return lambda_returns(
        np.asarray(rewards, dtype=np.float32),
        np.asarray(terminated, dtype=bool),
        np.asarray(truncated, dtype=bool),
        np.asarray(next_values, dtype=np.float32),
        gamma,
        lam,
    )


def test_rollout_end_bootstraps_from_last_next_value():
    # R2 = 1 + 0.9*10 = 10; R1 = 1 + 0.9*10 = 10; R0 = 1 + 0.9*10 = 10.
    # next_values[0] and [1] (1000) must be ignored: the chain continues inside the rollout.
    out = returns_of([1, 1, 1], [F, F, F], [F, F, F], [1000, 1000, 10], 0.9)
    np.testing.assert_allclose(out, [10, 10, 10], rtol=1e-6)


def test_rollout_end_bootstrap_with_distinct_rewards():
    # gamma 0.5, bootstrap 8: R2 = 3 + 4 = 7; R1 = 2 + 3.5 = 5.5; R0 = 1 + 2.75 = 3.75.
    out = returns_of([1, 2, 3], [F, F, F], [F, F, F], [0, 0, 8], 0.5)
    np.testing.assert_allclose(out, [3.75, 5.5, 7.0], rtol=1e-6)


def test_terminated_step_has_no_bootstrap_even_with_large_next_value():
    # Termination at step 1: R1 = 2 + 0 = 2 (next_values[1] = 100 ignored); R0 = 1 + 0.5*2 = 2.
    # After it a new episode: R3 = 4 + 0.5*8 = 8; R2 = 3 + 0.5*8 = 7.
    out = returns_of([1, 2, 3, 4], [F, T, F, F], [F, F, F, F], [100, 100, 100, 8], 0.5)
    np.testing.assert_allclose(out, [2, 2, 7, 8], rtol=1e-6)


def test_terminated_at_last_step_ignores_final_next_value():
    # R1 = 1 + 0 = 1; R0 = 1 + 0.5*1 = 1.5.
    out = returns_of([1, 1], [F, T], [F, F], [5, 1000], 0.5)
    np.testing.assert_allclose(out, [1.5, 1.0], rtol=1e-6)


def test_truncated_episode_bootstraps_value_of_final_observation():
    # Truncation at step 1 bootstraps from next_values[1] = 6: R1 = 2 + 0.5*6 = 5; R0 = 1 + 2.5 = 3.5.
    # Later rewards must not leak in: if R2 = 7 were used instead, R1 would be 2 + 3.5 = 5.5.
    out = returns_of([1, 2, 3, 4], [F, F, F, F], [F, T, F, F], [100, 6, 100, 8], 0.5)
    np.testing.assert_allclose(out, [3.5, 5, 7, 8], rtol=1e-6)


def test_terminated_and_truncated_at_same_step_counts_as_terminated():
    # Both flags at step 1: value 0 after it, so R1 = 2, R0 = 1 + 0.5*2 = 2 (not 5 and 3.5).
    out = returns_of([1, 2, 3, 4], [F, T, F, F], [F, T, F, F], [100, 6, 100, 8], 0.5)
    np.testing.assert_allclose(out, [2, 2, 7, 8], rtol=1e-6)


def test_gamma_one_sums_rewards_undiscounted():
    # Bootstrap 4: R2 = 3 + 4 = 7; R1 = 2 + 7 = 9; R0 = 1 + 9 = 10.
    out = returns_of([1, 2, 3], [F, F, F], [F, F, F], [0, 0, 4], 1.0)
    np.testing.assert_allclose(out, [10, 9, 7], rtol=1e-6)
    # Terminated at the end: plain sums of remaining rewards: 6, 5, 3.
    out = returns_of([1, 2, 3], [F, F, T], [F, F, F], [0, 0, 4], 1.0)
    np.testing.assert_allclose(out, [6, 5, 3], rtol=1e-6)


def test_batched_envs_are_computed_column_by_column():
    # Three envs side by side, gamma 0.5, each column one of the hand-worked cases above:
    #   env 0: no episode end, bootstrap 8: R3 = 4 + 4 = 8; R2 = 3 + 4 = 7; R1 = 2 + 3.5 = 5.5; R0 = 3.75
    #   env 1: terminated at step 1:        [2, 2, 7, 8]
    #   env 2: truncated at step 1, V = 6:  [3.5, 5, 7, 8]
    rewards = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3], [4, 4, 4]], dtype=np.float32)
    terminated = np.array([[F, F, F], [F, T, F], [F, F, F], [F, F, F]])
    truncated = np.array([[F, F, F], [F, F, T], [F, F, F], [F, F, F]])
    next_values = np.array([[100, 100, 100], [100, 100, 6], [100, 100, 100], [8, 8, 8]], dtype=np.float32)
    out = lambda_returns(rewards, terminated, truncated, next_values, 0.5)
    expected = np.array([[3.75, 2, 3.5], [5.5, 2, 5], [7, 7, 7], [8, 8, 8]])
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("shape", [(5,), (5, 3)])
@pytest.mark.parametrize("in_dtype", [np.float32, np.float64])
def test_output_is_float32_with_input_shape(shape, in_dtype):
    zeros = np.zeros(shape, dtype=bool)
    out = lambda_returns(np.ones(shape, in_dtype), zeros, zeros, np.ones(shape, in_dtype), 0.9)
    assert out.dtype == np.float32
    assert out.shape == shape


@pytest.mark.parametrize("gamma", [0.5, 0.75, 0.99])
def test_time_limit_with_accurate_bootstrap_recovers_infinite_horizon_value(gamma):
    # Constant reward 1 forever is worth 1/(1-gamma). If every bootstrap value is exactly that, then
    # 1 + gamma/(1-gamma) = 1/(1-gamma) at every step, whether the chain is cut by a truncation (steps 24
    # and 49) or by the rollout end. Treating truncation as termination would give R_49 = 1 instead.
    horizon = 1.0 / (1.0 - gamma)
    n = 50
    truncated = np.zeros(n, dtype=bool)
    truncated[[24, n - 1]] = True
    out = lambda_returns(np.ones(n, np.float32), np.zeros(n, bool), truncated, np.full(n, horizon, np.float32), gamma)
    np.testing.assert_allclose(out, np.full(n, horizon), rtol=1e-5)


def test_lambda_zero_gives_one_step_targets():
    # lam 0: R_t = r_t + gamma * V(s_{t+1}) everywhere; gamma 0.5: 1 + 10 = 11, 2 + 20 = 22, 3 + 4 = 7.
    out = returns_of([1, 2, 3], [F, F, F], [F, F, F], [20, 40, 8], 0.5, lam=0.0)
    np.testing.assert_allclose(out, [11, 22, 7], rtol=1e-6)


def test_lambda_half_mixes_one_step_and_longer_returns():
    # gamma 0.5, lam 0.5, next values [20, 40, 8]:
    #   R2 = 3 + 0.5 * 8 = 7 (rollout end: the whole bootstrap)
    #   R1 = 2 + 0.5 * (0.5 * 40 + 0.5 * 7) = 2 + 11.75 = 13.75
    #   R0 = 1 + 0.5 * (0.5 * 20 + 0.5 * 13.75) = 1 + 8.4375 = 9.4375
    out = returns_of([1, 2, 3], [F, F, F], [F, F, F], [20, 40, 8], 0.5, lam=0.5)
    np.testing.assert_allclose(out, [9.4375, 13.75, 7], rtol=1e-6)


def test_lambda_returns_keep_the_episode_end_rules():
    # lam 0.5, gamma 0.5. Truncated at step 1 (V = 6): R1 = 2 + 3 = 5, R0 = 1 + 0.5 * (0.5 * 6 + 0.5 * 5) = 3.75.
    # Terminated at step 1 instead: R1 = 2, R0 = 1 + 0.5 * (0.5 * 6 + 0.5 * 2) = 3.
    # Steps 2-3 are the next episode: R3 = 4 + 4 = 8, R2 = 3 + 0.5 * (0.5 * 100 + 0.5 * 8) = 30.
    out = returns_of([1, 2, 3, 4], [F, F, F, F], [F, T, F, F], [6, 6, 100, 8], 0.5, lam=0.5)
    np.testing.assert_allclose(out, [3.75, 5, 30, 8], rtol=1e-6)
    out = returns_of([1, 2, 3, 4], [F, T, F, F], [F, F, F, F], [6, 6, 100, 8], 0.5, lam=0.5)
    np.testing.assert_allclose(out, [3, 2, 30, 8], rtol=1e-6)


def test_lambda_return_minus_value_is_the_gae_advantage():
    # GAE: A_t = sum_k (gamma*lam)^k delta_{t+k}, delta_t = r_t + gamma V(s_{t+1}) - V(s_t), cut at the
    # rollout end; so R_t - V(s_t) must equal it. Random rollout, no episode end.
    rng = np.random.default_rng(0)
    gamma, lam, n = 0.9, 0.8, 6
    rewards, values = rng.normal(size=n), rng.normal(size=n + 1)  # values[t] = V(s_t)
    deltas = rewards + gamma * values[1:] - values[:-1]
    gae = [sum((gamma * lam) ** k * deltas[t + k] for k in range(n - t)) for t in range(n)]
    out = returns_of(rewards, [F] * n, [F] * n, values[1:], gamma, lam)
    np.testing.assert_allclose(out - values[:-1], gae, rtol=1e-4, atol=1e-5)
