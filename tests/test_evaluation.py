"""When the solved check looks: the gate on training returns, and --eval-every's interval of env steps."""

from __future__ import annotations

import itertools

from a3c_cartpole.cli import main
from a3c_cartpole.envs import EnvInfo
from a3c_cartpole.evaluation import GATE_EPISODES, SolvedCheck
from a3c_cartpole.tensorboard_log import tensorboard_dir
from tests.test_tensorboard import read_events

LANDER = EnvInfo("LunarLander-v3", obs_size=8, n_actions=4, reward_threshold=200.0)  # gate: training mean >= 0


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
    run = ["--train", "--save-dir", str(tmp_path), "--seed", "0", "--workers", "1", "--envs-per-worker", "4", "--quiet"]
    code = main([*run, "--max-steps", "6000", "--no-early-stop", "--eval-every", "1000", "--eval-episodes", "10"])
    assert code == 3  # the step budget ends it unsolved
    steps = [step for step, _ in read_events(tensorboard_dir(tmp_path, "CartPole-v1"))["eval/greedy_mean"]]
    # The gate opens once 20 episodes are played; then a look every >= 1,000 steps (the master polls
    # between vector steps, so a little later than each mark); the run's end judges the final model too.
    during, at_end = steps[:-1], steps[-1]
    assert len(during) >= 4 and at_end >= 6000
    assert all(later - earlier >= 1000 for earlier, later in itertools.pairwise(during)), steps
