"""The solved check: when it looks (the gate, --eval-every's interval of env steps, the default share
of wall time), the confirmation of a pass on fresh episodes, and which evaluation is kept as the best."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from a3c_cartpole.cli import main
from a3c_cartpole.envs.making import make_vector_env
from a3c_cartpole.envs.spec import EnvInfo, describe_env
from a3c_cartpole.evaluation import episodes
from a3c_cartpole.evaluation import solved_check as evaluation
from a3c_cartpole.evaluation.solved_check import GATE_EPISODES, Evaluation, SolvedCheck
from a3c_cartpole.networks.acting_copy import NumpyActorCritic
from a3c_cartpole.training.outputs import RunFiles
from a3c_cartpole.training.tensorboard_log import tensorboard_dir
from tests.conftest import fixed_policy
from tests.scripted_envs import OneStepScoredEnv, registered
from tests.test_tensorboard import read_events

LANDER = EnvInfo("LunarLander-v3", obs_shape=(8,), n_actions=4, reward_threshold=200.0)  # gate: training mean >= 0


def test_gate_stays_shut_below_its_mean_or_before_enough_episodes():
    check = SolvedCheck(LANDER, 100, every_steps=1000)
    assert not check.due(-1.0, 50, steps=5000)
    assert not check.due(10.0, GATE_EPISODES - 1, steps=5000)
    assert not check.due(None, 50, steps=5000)


def test_eval_every_looks_once_per_interval_of_env_steps():
    check = SolvedCheck(LANDER, 100, every_steps=1000)
    assert [s for s in range(0, 5001, 250) if check.due(10.0, 50, s)] == [0, 1000, 2000, 3000, 4000, 5000]


def test_interval_counts_from_the_last_look():
    # The gate opens at 1,300 steps: looks at 1,300, then 2,300 and 3,300 (not 2,000 and 3,000).
    check = SolvedCheck(LANDER, 100, every_steps=1000)
    polls = [(100, -5.0), (1300, 1.0), (2000, 1.0), (2299, 1.0), (2300, 1.0), (3000, 1.0), (3300, 1.0)]
    assert [s for s, mean in polls if check.due(mean, 50, s)] == [1300, 2300, 3300]


def test_cli_eval_every_spaces_the_evaluations_by_env_steps(tmp_path):
    # --lr 1e-9 keeps the policy from solving, so the run goes to its 6,000-step budget and ends by
    # judging its final model (a solved run is not judged again).
    run = ["--train", "--save-dir", str(tmp_path), "--seed", "0", "--workers", "1", "--envs-per-worker", "4", "--quiet"]
    code = main([*run, "--max-steps", "6000", "--no-early-stop", "--eval-every", "1000", "--eval-episodes", "10",
                 "--lr", "1e-9"])  # fmt: skip
    assert code == 3  # the step budget ends it unsolved
    steps = [step for step, _ in read_events(tensorboard_dir(tmp_path, "CartPole-v1"))["eval/greedy_mean"]]
    # The gate opens once 20 episodes are played; then a look every >= 1,000 steps (the master polls
    # between vector steps, and a check runs in the evaluation process while training goes on, so a
    # little later than each mark -- how much later depends on the machine, so only 2 looks are
    # required of the 5 or so that fit); the run's end judges the final model too.
    during, at_end = steps[:-1], steps[-1]
    assert len(during) >= 2 and at_end >= 6000, steps
    # the flag, not the CartPole preset's 2,000, set the interval
    assert json.loads(RunFiles(tmp_path, "CartPole-v1").run_record.read_text())["config"]["eval_every"] == 1000
    assert all(later - earlier >= 1000 for earlier, later in itertools.pairwise(during)), steps


# --- confirmation on fresh episodes -------------------------------------------------------------------

EPISODES = 8  # per evaluation set
ANY_POLICY = fixed_policy(1, [0.0, 0.0], 0.0)  # the scripted env's rewards ignore the actions


@pytest.fixture
def scored_env(monkeypatch):
    """One-step episodes paying what the test scripts; solved threshold 0.5 (gate: training mean >= 0)."""
    monkeypatch.setattr(OneStepScoredEnv, "seeds", [])
    with registered("ScriptedScore-v0", OneStepScoredEnv, reward_threshold=0.5, max_episode_steps=1) as env_id:
        yield describe_env(env_id)


def script_rewards(monkeypatch, rewards_of_reset):
    monkeypatch.setattr(OneStepScoredEnv, "script", staticmethod(rewards_of_reset))


def test_a_passing_set_is_confirmed_on_a_second_set_of_fresh_episodes(scored_env, monkeypatch):
    # The first 8 episodes pay 1 (mean 1 >= 0.5: a lucky pass), the next 8 pay 0: not solved.
    script_rewards(monkeypatch, lambda n: 1.0 if n <= EPISODES else 0.0)
    check = SolvedCheck(scored_env, EPISODES)
    result = check.evaluate(ANY_POLICY)
    assert not result.solved
    np.testing.assert_array_equal(result.returns, np.zeros(EPISODES))  # the confirming set is the verdict
    seeds = OneStepScoredEnv.seeds
    assert len(seeds) == 2 * EPISODES and None not in seeds
    assert not set(seeds[:EPISODES]) & set(seeds[EPISODES:])  # fresh episodes, not a replay of the first


def test_a_pass_confirmed_by_the_second_set_is_solved(scored_env, monkeypatch):
    script_rewards(monkeypatch, lambda n: 1.0)
    result = SolvedCheck(scored_env, EPISODES).evaluate(ANY_POLICY)
    assert result.solved and result.mean == 1.0 and len(result.returns) == EPISODES
    assert len(OneStepScoredEnv.seeds) == 2 * EPISODES


def test_a_confirmation_must_clear_the_threshold_by_two_standard_errors(scored_env, monkeypatch):
    # Both sets: 6 episodes paying 1 and 2 paying 0 (mean 0.75 >= 0.5: the first set passes). The
    # confirmation's sample std is sqrt(6 * 0.0625 + 2 * 0.5625) / sqrt(7) = 0.4629, its standard
    # error 0.4629 / sqrt(8) = 0.1637, so its bar is 0.5 + 2 * 0.1637 = 0.827: 0.75 falls short.
    script_rewards(monkeypatch, lambda n: 0.0 if n % 8 in (1, 2) else 1.0)
    result = SolvedCheck(scored_env, EPISODES).evaluate(ANY_POLICY)
    assert result.mean == 0.75 and result.bar == pytest.approx(0.827, abs=1e-3) and not result.solved
    assert len(OneStepScoredEnv.seeds) == 2 * EPISODES  # the first set passed: it was confirmed
    # 7 of 8 paying 1: mean 0.875, std 0.3536, standard error 0.125, bar 0.75: solved
    assert Evaluation(np.r_[np.zeros(1), np.ones(7)], 0.5, confirmation=True).solved
    # The bar is the threshold itself for a look's own set, and where every episode scores the same
    assert Evaluation(np.r_[np.zeros(2), np.ones(6)], 0.5).bar == 0.5
    assert Evaluation(np.full(8, 500.0), 475.0, confirmation=True).bar == 475.0


def test_the_terminal_gives_a_confirmation_its_bar():
    # Returns -100, -110, -120, -100 against MountainCar's -110: mean -107.5, deviations 7.5, 2.5,
    # 12.5, 7.5 (squares sum to 275), std sqrt(275 / 4) = 8.29; sample std sqrt(275 / 3) = 9.574,
    # standard error 4.787, bar -110 + 2 * 4.787 = -100.43: over the threshold, and not solved.
    returns = np.array([-100.0, -110.0, -120.0, -100.0])
    assert Evaluation(returns, -110.0).described() == "greedy mean -107.5 ± 8.3 over 4 episodes"
    confirmation = Evaluation(returns, -110.0, confirmation=True)
    assert confirmation.described() == (
        "passed; confirmation: greedy mean -107.5 ± 8.3 over 4 fresh episodes, needs -100.4"
    )
    assert not confirmation.solved
    # FrozenLake's threshold of 0.7 takes two decimals: 3 of 4 paying 1, std 0.433, bar 0.7 + 2 * 0.25
    assert Evaluation(np.r_[0.0, np.ones(3)], 0.7, confirmation=True).described() == (
        "passed; confirmation: greedy mean 0.75 ± 0.43 over 4 fresh episodes, needs 1.20"
    )


def test_a_failing_set_is_not_played_again(scored_env, monkeypatch):
    script_rewards(monkeypatch, lambda n: 0.0)
    result = SolvedCheck(scored_env, EPISODES).evaluate(ANY_POLICY)
    assert not result.solved and len(OneStepScoredEnv.seeds) == EPISODES


def test_every_evaluation_plays_episodes_no_earlier_one_played(scored_env, monkeypatch):
    # Fail, confirmed pass, fail, confirmed pass: 1 + 2 + 1 + 2 sets, 48 resets, 48 distinct seeds
    # (a check after a confirmed pass must skip the confirmation's seeds too).
    paying = {*range(9, 25), *range(33, 49)}  # resets 9-24 and 33-48: the passes and their confirmations
    script_rewards(monkeypatch, lambda n: 1.0 if n in paying else 0.0)
    check = SolvedCheck(scored_env, EPISODES)
    verdicts = [check.evaluate(ANY_POLICY).solved for _ in range(4)]
    assert verdicts == [False, True, False, True]
    assert len(set(OneStepScoredEnv.seeds)) == len(OneStepScoredEnv.seeds) == 6 * EPISODES


def test_best_is_the_evaluation_with_the_highest_mean_and_a_tie_keeps_the_first():
    check = SolvedCheck(LANDER, 4)
    means = [10.0, 5.0, 20.0, 20.0, 19.0]
    results = [Evaluation(np.full(4, m), 200.0) for m in means]
    assert [check.is_best(r) for r in results] == [True, False, True, False, False]
    assert check.best is results[2]


# --- a natively vectorised env plays a set and its confirmation at once ----------------------------------


def balancing_policy() -> NumpyActorCritic:
    """Push toward the side the pole falls to (10 * angle + angular velocity): CartPole-v1's 500 every time."""
    towards_fall = np.array([[0.0], [0.0], [10.0], [1.0]], np.float32)
    zero = np.zeros(1, np.float32)
    return NumpyActorCritic(
        (
            *(towards_fall, zero, np.array([[-1.0, 1.0]], np.float32), np.zeros(2, np.float32)),  # policy
            *(towards_fall, zero, np.ones((1, 1), np.float32), zero),  # value
        ),
        "tanh",
    )


@pytest.fixture
def vector_env_sizes(monkeypatch):
    """The number of envs of every vector env the checks make, in order."""
    sizes = []

    def counted(info, num_envs, seed):
        sizes.append(num_envs)
        return make_vector_env(info, num_envs, seed)

    monkeypatch.setattr(episodes, "make_vector_env", counted)
    return sizes


@pytest.mark.parametrize(
    ("env_kwargs", "sizes"),
    [({}, [200]), ({"sutton_barto_reward": False}, [evaluation.SCREEN_EPISODES, 80, 100])],
    ids=["native", "one-by-one"],
)
def test_a_passing_check_plays_its_set_and_confirmation_at_once_only_in_a_native_vector_env(
    vector_env_sizes, env_kwargs, sizes
):
    # CartPole's own vector env steps 200 envs in about the time of 20; with keyword arguments each
    # env is made and stepped on its own, and the screen, the rest and the confirmation are played
    # one after another.
    check = SolvedCheck(describe_env("CartPole-v1", env_kwargs), 100)
    result = check.evaluate(balancing_policy())
    assert result.solved and len(result.returns) == 100 and result.mean == 500.0
    assert vector_env_sizes == sizes
    assert check.count == 2  # both sets' seeds are spent


def test_a_screen_that_falls_short_in_a_native_vector_env_is_the_verdict(vector_env_sizes):
    always_left = fixed_policy(4, [1.0, 0.0], 0.0)  # the pole falls within about ten steps
    check = SolvedCheck(describe_env("CartPole-v1"), 100)
    result = check.evaluate(always_left)
    assert len(result.returns) == evaluation.SCREEN_EPISODES and not result.solved
    assert result.returns.max() < 20 and check.count == 1
    assert vector_env_sizes == [200]


# --- the screen: the rest of a set only where the policy could pass or beat the best ------------------

SET = 2 * evaluation.SCREEN_EPISODES  # a set large enough to be screened


def test_a_screen_far_below_the_threshold_ends_the_look(scored_env, monkeypatch):
    script_rewards(monkeypatch, lambda n: 0.0)
    result = SolvedCheck(scored_env, SET).evaluate(ANY_POLICY)
    assert len(result.returns) == len(OneStepScoredEnv.seeds) == evaluation.SCREEN_EPISODES
    assert not result.solved


def test_a_screen_within_two_standard_errors_plays_the_whole_set(scored_env, monkeypatch):
    # The screen pays 0 and 0.8 in turn: mean 0.4, sample std 0.410, standard error 0.092, so
    # 0.4 + 2 * 0.092 = 0.584 reaches the threshold 0.5 and the other 20 episodes are played.
    script_rewards(monkeypatch, lambda n: 0.8 * (n % 2 == 0))
    result = SolvedCheck(scored_env, SET).evaluate(ANY_POLICY)
    assert len(result.returns) == SET and result.mean == pytest.approx(0.4) and not result.solved
    seeds = OneStepScoredEnv.seeds
    assert len(set(seeds)) == SET and seeds == list(range(seeds[0], seeds[0] + SET))  # one block, in order


def test_a_screen_that_passes_goes_on_to_the_whole_set_and_its_confirmation(scored_env, monkeypatch):
    script_rewards(monkeypatch, lambda n: 1.0)
    result = SolvedCheck(scored_env, SET).evaluate(ANY_POLICY)
    assert result.solved and len(result.returns) == SET and len(OneStepScoredEnv.seeds) == 2 * SET


@pytest.mark.parametrize(("paying", "whole_set"), [(0.25, False), (0.35, True)])
def test_below_the_threshold_the_bar_is_the_best_mean(scored_env, monkeypatch, paying, whole_set):
    # The best model so far averaged 0.3 (threshold 0.5): a screen of 0.25 cannot beat it and ends
    # the look; one of 0.35 could, and is played in full.
    check = SolvedCheck(scored_env, SET)
    check.is_best(Evaluation(np.full(SET, 0.3), 0.5))
    script_rewards(monkeypatch, lambda n: paying)
    result = check.evaluate(ANY_POLICY)
    assert len(result.returns) == (SET if whole_set else evaluation.SCREEN_EPISODES)
    assert check.is_best(result) is whole_set


# --- the default cadence: at most a fifth of the wall time ------------------------------------------------


class FakeClock:
    """Stands in for time.perf_counter; only the scripted env's resets advance it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_without_eval_every_the_next_look_waits_four_times_the_last_evaluation(scored_env, monkeypatch):
    # Each episode costs 0.125 s of the fake clock, so a set of 8 takes 1 s. Evaluation may have a
    # fifth of the wall time: after an evaluation of 1 s the check waits 4 s (1 / (1 + 4) = 1/5).
    clock = FakeClock(100.0)
    monkeypatch.setattr(evaluation.time, "perf_counter", clock)

    def failing_episode_costing_an_eighth_of_a_second(n):
        clock.now += 0.125
        return 0.0

    script_rewards(monkeypatch, failing_episode_costing_an_eighth_of_a_second)
    check = SolvedCheck(scored_env, EPISODES)  # no every_steps: the time share decides
    assert check.due(0.0, GATE_EPISODES, steps=0)  # the first look is free
    check.evaluate(ANY_POLICY)
    assert clock.now == 101.0  # the evaluation took 1 s
    for now, due in ((101.0, False), (104.9, False), (105.1, True)):
        clock.now = now
        assert check.due(0.0, GATE_EPISODES, steps=10**6) is due, now  # env steps play no part


def test_a_confirmed_evaluation_counts_both_sets_in_the_time_share(scored_env, monkeypatch):
    # A pass plays two sets (2 s), so the next look waits 8 s: from 102 s to 110 s.
    clock = FakeClock(100.0)
    monkeypatch.setattr(evaluation.time, "perf_counter", clock)

    def passing_episode_costing_an_eighth_of_a_second(n):
        clock.now += 0.125
        return 1.0

    script_rewards(monkeypatch, passing_episode_costing_an_eighth_of_a_second)
    check = SolvedCheck(scored_env, EPISODES)
    assert check.evaluate(ANY_POLICY).solved and clock.now == 102.0
    clock.now = 109.9
    assert not check.due(0.0, GATE_EPISODES, steps=0)
    clock.now = 110.1
    assert check.due(0.0, GATE_EPISODES, steps=0)


def test_the_first_pass_sets_solved_at_to_its_look_and_the_best_keeps_its_policy():
    # LunarLander's bar is 200: means 150 (best), 210 (solved: the run's moment), 250 (solved again:
    # the best, the moment stays the first pass's).
    check = SolvedCheck(LANDER, 4)
    policies = [object(), object(), object()]
    looks = [evaluation.Look(p, 10 * (i + 1), 1000 * (i + 1), 1.5 * (i + 1)) for i, p in enumerate(policies)]
    for look, mean in zip(looks, [150.0, 210.0, 250.0], strict=True):
        check.record(look, Evaluation(np.full(4, mean), 200.0))
    assert check.solved_at == evaluation.SolvedAt(20, 2000, 3.0)
    assert check.best_policy is policies[2] and check.best.mean == 250.0
    assert [(p.episode, p.step, p.mean) for p in check.history] == [
        (10, 1000, 150.0),
        (20, 2000, 210.0),
        (30, 3000, 250.0),
    ]


def test_a_checks_saved_state_restores_its_seeds_timeline_best_and_solved_moment():
    check = SolvedCheck(LANDER, 4)
    check.finish(np.full(4, 210.0), confirmed=True, seconds=0.5)  # a confirmed pass spends two sets of seeds
    check.record(evaluation.Look(None, 20, 2000, 3.0), Evaluation(np.full(4, 210.0), 200.0))
    saved = check.state()
    assert saved == {"eval_count": 2, "evaluations": [[20, 2000, 210.0, 0.0]], "best_eval_returns": [210.0] * 4,
                     "solved_at": [20, 2000, 3.0]}  # fmt: skip
    resumed = SolvedCheck(LANDER, 4)
    resumed.restore(type("RunState", (), json.loads(json.dumps(saved)))())  # as a checkpoint's JSON gives it back
    assert resumed.state() == saved and resumed.solved_at == evaluation.SolvedAt(20, 2000, 3.0)
    assert resumed.request(ANY_POLICY).first_seed == evaluation.EVAL_SEED_BASE + 2 * 4  # past both sets' seeds
    assert resumed.best_policy is None  # the saved best's weights are on disk, not in the state
