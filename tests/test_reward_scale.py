"""--normalize-reward: rewards divided by the running std of the discounted return, for learning only.

The values are worked out by hand from the definition (the statistics' prior, a count of 1e-4, moves
them by less than the tolerances): returns G_t = gamma * G_(t-1) + r_t, restarted at every episode's
end; a reward is divided by the std of every G seen so far, then clipped to +-10.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from a3c_cartpole import train
from a3c_cartpole.a3c.reward_scale import CLIP, ReturnScale
from a3c_cartpole.a3c.rollout import FinishedEpisode, make_collector
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.training.checkpoints import RUN_STATE_KEY, RunState, checkpoint_dir
from a3c_cartpole.training.outputs import RunFiles

ONE = np.array([True])
NO = np.array([False])


def test_a_reward_is_divided_by_the_std_of_the_returns_so_far():
    scale = ReturnScale(1, gamma=0.5)
    for _ in range(2):
        scale(np.array([-1.0]), NO, ONE)
    # G = -1, -1.5, -1.75: mean -1.41667, variance (0.17361 + 0.00694 + 0.11111) / 3 = 0.097222
    np.testing.assert_allclose(scale(np.array([-1.0]), NO, ONE), [-1 / np.sqrt(0.097222)], rtol=1e-3)  # -3.2071


def test_the_return_starts_again_after_an_episode_ends_by_termination_or_time_limit():
    for ended in ("terminated", "truncated"):  # the caller passes terminated | truncated: both restart it
        scale = ReturnScale(1, gamma=0.5)
        scale(np.array([-1.0]), NO, ONE)
        scale(np.array([-1.0]), ONE, ONE)  # G = -1.5, and the episode ends
        # G = -1, -1.5, then -1 again: mean -1.16667, variance (0.02778 + 0.11111 + 0.02778) / 3 = 0.055556
        np.testing.assert_allclose(scale(np.array([-1.0]), NO, ONE), [-1 / np.sqrt(0.055556)], rtol=1e-3), ended


def test_autoreset_steps_leave_the_returns_and_the_statistics_alone():
    scale = ReturnScale(2, gamma=0.5)
    scale(np.array([-1.0, -1.0]), NO.repeat(2), np.array([True, True]))
    scale(np.array([-1.0, 0.0]), NO.repeat(2), np.array([True, False]))  # env 1 resets: not a transition
    # G seen: -1, -1 (step 1), -1.5 (env 0 only); env 1's return stays -1
    np.testing.assert_allclose(scale.returns, [-1.5, -1.0])
    assert scale.stats.count == pytest.approx(3, abs=1e-3)
    np.testing.assert_allclose(scale.stats.var, np.var([-1, -1, -1.5]), rtol=5e-3)


def test_a_reward_far_outside_the_returns_spread_is_clipped():
    # gamma 0: the returns are the rewards. 1,000 returns of 1, then 999 of 1 and one of 3 (or -3):
    # a variance of about 4 / 2,000 (std 0.045), so every reward scales to 22 or more, and is clipped.
    n = 1000
    ended, valid = np.zeros(n, bool), np.ones(n, bool)
    for far in (3.0, -3.0):
        scale = ReturnScale(n, gamma=0.0)
        scale(np.ones(n), ended, valid)
        scaled = scale(np.r_[far, np.ones(n - 1)], ended, valid)
        assert scaled[0] == np.sign(far) * CLIP and np.all(scaled[1:] == CLIP)


def test_the_collector_learns_from_scaled_rewards_and_logs_the_envs_own():
    # MountainCar pays -1 a step and random play is truncated at 200 steps. One-step returns
    # (t_max 1) against a critic of 0 are the scaled rewards themselves. The first step's two
    # returns are both -1: their variance is the prior's alone (about 1e-4), so the scaled rewards
    # (about -100) are clipped to -10. The episodes are logged at the env's -200.
    config = TrainConfig(env_id="MountainCar-v0", envs_per_worker=2, update_freq=1, normalize_reward=True)
    collector = make_collector(config, describe_env("MountainCar-v0"), 0, 0)
    policy = _zero_policy()
    logged = []
    try:
        first = collector.collect(policy, lambda n, finished: True)
        for _ in range(199):
            batch = collector.collect(policy, lambda n, finished: logged.extend(finished) or True)
    finally:
        collector.close()
    np.testing.assert_allclose(first.returns, [-CLIP, -CLIP])
    # by the 200th step G runs from -1 to -86.6: the scale is settled and the rewards small
    assert np.all(np.abs(batch.returns) < 0.2)
    assert logged == [FinishedEpisode(-200.0, 200)] * 2


def test_a_checkpoint_keeps_each_workers_reward_scale(tmp_path):
    options = dict(workers=1, envs_per_worker=2, seed=0, checkpoint_every=1, verbose=False, save_dir=tmp_path)
    train(max_eps=20, normalize_reward=True, **options)
    saved = tf.train.latest_checkpoint(str(checkpoint_dir(tmp_path, "CartPole-v1")))
    state = RunState.from_json(tf.train.load_variable(saved, RUN_STATE_KEY).decode())
    (scale,) = [worker["reward_scale"] for worker in state.worker_states]
    # CartPole pays 1 a step: its returns are positive and spread, so the statistics left the prior
    assert scale["count"] > 100 and scale["mean"] > 1 and scale["var"] > 0.1
    # resumed with no flag but the budget: the option goes on, and so does the scale it had
    train(resume=True, max_eps=40, **options)
    record = json.loads(RunFiles(tmp_path, "CartPole-v1").run_record.read_text())
    assert record["config"]["normalize_reward"] is True


def _zero_policy():
    from tests.conftest import fixed_policy

    return fixed_policy(2, [0.0, 0.0, 0.0], 0.0)
