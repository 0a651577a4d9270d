"""RolloutCollector: autoreset steps masked out, bootstrap on truncation, exact episode accounting.

Gymnasium 1.x vector envs reset a finished env on the step *after* the episode ends; that step
returns reward 0 and the reset observation and is not a transition. A scripted fake vector env pins
down the masking and bootstrap exactly; real CartPole vector envs check the same facts at scale.
"""

import numpy as np
import pytest

from a3c_cartpole.a3c.rollout import FinishedEpisode, RolloutCollector
from a3c_cartpole.envs.making import make_vector_env
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.networks.acting_copy import NumpyActorCritic

F, T = False, True


class ScriptedVectorEnv:
    """Duck-typed vector env replaying (obs, reward, terminated, truncated) rows; records actions."""

    def __init__(self, script):
        self.script = [tuple(np.asarray(x) for x in row) for row in script]
        self.num_envs = len(self.script[0][1])
        self.actions = []
        self.closed = False

    def step(self, actions):
        actions = np.asarray(actions)
        assert actions.shape == (self.num_envs,)
        self.actions.append(actions.copy())
        obs, reward, term, trunc = self.script[len(self.actions) - 1]
        return obs.astype(np.float32), reward.astype(np.float32), term.astype(bool), trunc.astype(bool), {}

    def close(self):
        self.closed = True


class RecordingVectorEnv:
    """Wraps a real vector env and keeps the rewards and end flags of every step."""

    def __init__(self, envs):
        self.envs = envs
        self.num_envs = envs.num_envs
        self.rewards, self.terminated, self.truncated = [], [], []

    def step(self, actions):
        obs, reward, term, trunc, info = self.envs.step(actions)
        self.rewards.append(np.array(reward))
        self.terminated.append(np.array(term))
        self.truncated.append(np.array(trunc))
        return obs, reward, term, trunc, info

    def close(self):
        self.envs.close()


class ReportLog:
    """The `report` callback: remembers every call, answers True until told otherwise."""

    def __init__(self, stop_after=None):
        self.calls = []
        self.stop_after = stop_after

    def __call__(self, n_steps, finished):
        self.calls.append((n_steps, list(finished)))
        return self.stop_after is None or len(self.calls) < self.stop_after

    @property
    def steps(self):
        return sum(n for n, _ in self.calls)

    @property
    def episodes(self):
        return [e for _, finished in self.calls for e in finished]


def identity_value_policy(obs_size=1):
    """Uniform random actions over 2; value V(s) = relu(s[0]), so an observation encodes its value."""
    w_vh = np.zeros((obs_size, 1), np.float32)
    w_vh[0, 0] = 1.0
    return NumpyActorCritic(
        (
            np.zeros((obs_size, 1), np.float32),
            np.zeros(1, np.float32),
            np.zeros((1, 2), np.float32),
            np.zeros(2, np.float32),
            w_vh,
            np.zeros(1, np.float32),
            np.ones((1, 1), np.float32),
            np.zeros(1, np.float32),
        )
    )


def controller_policy(value):
    """Near-deterministic CartPole balancer: logits [0, 1000 * s.k]; constant value `value`."""
    k = np.array([0.1, 0.5, 10.0, 2.0], np.float32)
    return NumpyActorCritic(
        (
            np.stack([k, -k], axis=1),
            np.zeros(2, np.float32),
            np.array([[0.0, 1000.0], [0.0, -1000.0]], np.float32),
            np.zeros(2, np.float32),
            np.zeros((4, 1), np.float32),
            np.zeros(1, np.float32),
            np.zeros((1, 1), np.float32),
            np.array([value], np.float32),
        )
    )


def keep_mask(batch):
    """Which batch rows are real transitions: rows with mask 1 (all rows if the batch has no mask)."""
    mask = getattr(batch, "mask", None)
    if mask is None:
        return np.ones(len(batch.returns), bool)
    mask = np.asarray(mask)
    assert set(np.unique(mask)) <= {0, 1}
    assert len(mask) == len(batch.returns) == len(batch.states) == len(batch.actions)
    return mask == 1


def rows(batch):
    """Valid batch rows as {first state coordinate: return}, independent of row order."""
    keep = keep_mask(batch)
    keys = [float(s) for s in batch.states[keep, 0]]
    assert len(set(keys)) == len(keys)
    return dict(zip(keys, (float(r) for r in batch.returns[keep]), strict=True))


def masked_states(batch):
    """First state coordinate of the rows left out (autoreset steps)."""
    return sorted(float(s) for s in batch.states[~keep_mask(batch), 0])


def test_autoreset_step_is_masked_and_truncation_bootstraps_final_observation():
    # Two envs, gamma 0.5, V(s) = s. Step 1: env 0 terminates (final obs 20 must NOT be used),
    # env 1 is truncated (final obs 5 IS used). Step 2 is both envs' autoreset step (reward 0).
    script = [
        ([[10], [11]], [1, 1], [F, F], [F, F]),
        ([[20], [5]], [2, 5], [T, F], [F, T]),
        ([[30], [31]], [0, 0], [F, F], [F, F]),
        ([[6], [7]], [4, 3], [F, F], [F, F]),
    ]
    env = ScriptedVectorEnv(script)
    collector = RolloutCollector(env, np.array([[1], [2]], np.float32), np.random.default_rng(0), 0.5, 4)
    log = ReportLog()
    batch = collector.collect(identity_value_policy(), log)
    # env 0: R3 = 4 + 0.5*6 = 7; R1 = 2 + 0 = 2; R0 = 1 + 0.5*2 = 2          (states 30, 10, 1)
    # env 1: R3 = 3 + 0.5*7 = 6.5; R1 = 5 + 0.5*5 = 7.5; R0 = 1 + 0.5*7.5 = 4.75 (states 31, 11, 2)
    assert rows(batch) == pytest.approx({1: 2, 10: 2, 30: 7, 2: 4.75, 11: 7.5, 31: 6.5})
    assert batch.returns.dtype == np.float32
    # Valid steps per call: 2, 2, 0 (autoreset), 2 -> 6 rows. Episodes: env 0 returns 1+2 = 3 in 2
    # steps, env 1 returns 1+5 = 6 in 2 steps.
    assert [n for n, _ in log.calls] == [2, 2, 0, 2]
    assert sorted(log.episodes, key=lambda e: e.episode_return) == [FinishedEpisode(3.0, 2), FinishedEpisode(6.0, 2)]
    # Each row's action is the one sent to the env at that state.
    sent = {1: env.actions[0][0], 2: env.actions[0][1], 10: env.actions[1][0], 11: env.actions[1][1]}
    sent.update({30: env.actions[3][0], 31: env.actions[3][1]})
    keep = keep_mask(batch)
    for state, action in zip(batch.states[keep, 0], batch.actions[keep], strict=True):
        assert action == sent[float(state)]
    # The left-out rows are exactly the two autoreset steps, whose states are the final obs 20 and 5.
    assert masked_states(batch) == [5.0, 20.0]


def test_episode_spanning_rollouts_keeps_counting_and_masks_next_rollout_first_step():
    # One env, t_max 2, gamma 0.5, V(s) = s. The episode runs 4 steps over two rollouts and
    # terminates on the last step of rollout 2, so rollout 3 starts with the autoreset step.
    script = [
        ([[1]], [1], [F], [F]),
        ([[2]], [1], [F], [F]),
        ([[3]], [1], [F], [F]),
        ([[4]], [1], [T], [F]),
        ([[5]], [0], [F], [F]),
        ([[6]], [1], [F], [F]),
    ]
    collector = RolloutCollector(
        ScriptedVectorEnv(script), np.array([[0.5]], np.float32), np.random.default_rng(0), 0.5, 2
    )
    log = ReportLog()
    policy = identity_value_policy()
    # Rollout 1: bootstrap V(2) = 2: R1 = 1 + 1 = 2, R0 = 1 + 0.5*2 = 2.
    assert rows(collector.collect(policy, log)) == pytest.approx({0.5: 2, 1: 2})
    # Rollout 2: terminated at its last step: R3 = 1, R2 = 1 + 0.5 = 1.5 (V(4) = 4 ignored).
    assert rows(collector.collect(policy, log)) == pytest.approx({2: 1.5, 3: 1})
    # Rollout 3: step 4 is the autoreset step (state 4 excluded); R5 = 1 + 0.5*V(6) = 4.
    batch = collector.collect(policy, log)
    assert rows(batch) == pytest.approx({5: 4})
    assert masked_states(batch) == [4.0]
    assert [n for n, _ in log.calls] == [1, 1, 1, 1, 0, 1]
    assert log.episodes == [FinishedEpisode(4.0, 4)]


def test_collector_uses_its_lambda_for_the_returns():
    # One env, gamma 0.5, lambda 0.5, V(s) = s; states 1, 2, 4, then 8 to bootstrap from; reward 1 each.
    # GAE: delta_t = 1 + 0.5 V(s_t+1) - V(s_t) = 1 at every step; A_2 = 1, A_1 = 1 + 0.25 * 1 = 1.25,
    # A_0 = 1 + 0.25 * 1.25 = 1.3125; R = A + V: R_0 = 2.3125, R_1 = 3.25, R_2 = 5.
    # (lambda 1 would give the n-step returns 2.75, 3.5, 5.)
    script = [([[2]], [1], [F], [F]), ([[4]], [1], [F], [F]), ([[8]], [1], [F], [F])]
    collector = RolloutCollector(
        ScriptedVectorEnv(script), np.array([[1]], np.float32), np.random.default_rng(0), 0.5, 3, lam=0.5
    )
    assert rows(collector.collect(identity_value_policy(), ReportLog())) == pytest.approx({1: 2.3125, 2: 3.25, 4: 5})


def test_collect_returns_none_as_soon_as_report_says_stop():
    script = [([[1]], [1], [F], [F])] * 5
    env = ScriptedVectorEnv(script)
    collector = RolloutCollector(env, np.array([[0.0]], np.float32), np.random.default_rng(0), 0.9, 5)
    assert collector.collect(identity_value_policy(), ReportLog(stop_after=2)) is None
    assert len(env.actions) == 2


def test_cartpole_rollout_masks_autoreset_steps_and_returns_have_closed_form(make_fixed_policy):
    # Uniform random actions, V = 4 = 1/(1 - 0.75) everywhere. A valid step k steps before a
    # termination inside the rollout has R = 1 + 0.75 + ... + 0.75^k = 4 * (1 - 0.75^(k+1)) (exactly 1.0
    # at the terminal step: the env's reward, not -1); any other valid step has R = 1 + 0.75 * 4 = 4.
    gamma, t_max = 0.75, 200
    envs, obs = make_vector_env(describe_env("CartPole-v1"), 4, seed=3)
    recorder = RecordingVectorEnv(envs)
    collector = RolloutCollector(recorder, obs, np.random.default_rng(3), gamma, t_max)
    log = ReportLog()
    try:
        batch = collector.collect(make_fixed_policy(4, [0.0, 0.0], 4.0), log)
    finally:
        recorder.close()
    rewards = np.array(recorder.rewards)
    terminated, truncated = np.array(recorder.terminated), np.array(recorder.truncated)
    assert not truncated.any()  # random play never lasts 500 steps

    expected = []
    for i in range(4):
        valid = np.ones(t_max, bool)
        valid[1:] = ~terminated[:-1, i]
        for t in np.flatnonzero(valid):
            ends = np.flatnonzero(terminated[t:, i])
            expected.append(4.0 * (1 - gamma ** (ends[0] + 1)) if len(ends) else 4.0)
        assert (rewards[valid, i] == 1).all() and (rewards[~valid, i] == 0).all()

    returns = batch.returns[keep_mask(batch)]
    assert len(returns) == len(expected) == log.steps
    np.testing.assert_allclose(np.sort(returns), np.sort(expected), rtol=1e-6)
    assert np.sum(returns == 1.0) == terminated.sum() == len(log.episodes)
    assert len(log.episodes) > 10  # about 800 / 22 random episodes
    for episode in log.episodes:
        assert episode.episode_return == episode.length


def test_valid_rows_over_many_rollouts_equal_reported_steps(make_fixed_policy):
    envs, obs = make_vector_env(describe_env("CartPole-v1"), 4, seed=11)
    collector = RolloutCollector(envs, obs, np.random.default_rng(11), 0.99, 50)
    log = ReportLog()
    rows_total = 0
    try:
        for _ in range(4):  # episodes straddle rollout boundaries
            rows_total += int(keep_mask(collector.collect(make_fixed_policy(4, [0.0, 0.0], 0.0), log)).sum())
    finally:
        envs.close()
    # 4 envs * 200 vector steps minus one autoreset step per finished episode, except an episode ending
    # on the very last step, whose autoreset step is not yet taken.
    assert rows_total == log.steps
    assert 4 * 200 - len(log.episodes) <= rows_total <= 4 * 200 - len(log.episodes) + 4
    for episode in log.episodes:
        assert episode.episode_return == episode.length


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(("env_id", "limit"), [("CartPole-v0", 200), ("CartPole-v1", 500)])
def test_time_limit_is_kept_and_truncation_bootstraps(env_id, limit):
    # A balancing controller survives the whole time limit, so each env's episode is truncated at exactly
    # `limit` steps (SPEC defect 3: the env keeps its limit). With V = 4 = 1/(1 - 0.75) everywhere, an
    # accurate bootstrap makes every return 1 + 0.75 * 4 = 4, including the truncated step (1 if it were
    # treated as a termination). Rows: 2 envs * (limit + 20) steps minus 1 autoreset step each.
    t_max = limit + 20
    envs, obs = make_vector_env(describe_env(env_id), 2, seed=5)
    collector = RolloutCollector(envs, obs, np.random.default_rng(5), 0.75, t_max)
    log = ReportLog()
    try:
        batch = collector.collect(controller_policy(4.0), log)
    finally:
        envs.close()
    assert log.episodes == [FinishedEpisode(float(limit), limit)] * 2
    returns = batch.returns[keep_mask(batch)]
    assert len(returns) == log.steps == 2 * (t_max - 1)
    np.testing.assert_allclose(returns, 4.0, rtol=1e-6)


def test_make_vector_env_is_reset_and_reproducible_by_seed():
    first = [make_vector_env(describe_env("CartPole-v1"), 3, seed=42) for _ in range(2)]
    try:
        (_, a), (_, b) = first
        assert a.shape == (3, 4) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
        assert (np.abs(a) <= 0.05).all()  # CartPole starts uniformly in [-0.05, 0.05]
    finally:
        for envs, _ in first:
            envs.close()


def test_sync_vector_env_truncation_is_masked_and_bootstrapped(make_fixed_policy):
    # MountainCar-v0 has no native vector env (gymnasium steps it in a SyncVectorEnv) and random play
    # never reaches the flag, so each env is truncated at 200 steps with return -200. With reward -1 per
    # step and V = -4 = -1/(1 - 0.75) everywhere, every valid return is -1 + 0.75 * -4 = -4.
    # Rows: 2 envs * 220 steps minus 1 autoreset step each = 438.
    envs, obs = make_vector_env(describe_env("MountainCar-v0"), 2, seed=0)
    collector = RolloutCollector(envs, obs, np.random.default_rng(0), 0.75, 220)
    log = ReportLog()
    try:
        batch = collector.collect(make_fixed_policy(2, [0.0, 0.0, 0.0], -4.0), log)
    finally:
        envs.close()
    assert log.episodes == [FinishedEpisode(-200.0, 200)] * 2
    returns = batch.returns[keep_mask(batch)]
    assert len(returns) == log.steps == 438
    np.testing.assert_allclose(returns, -4.0, rtol=1e-6)
