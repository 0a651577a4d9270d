"""Bring your own env: a user's module registers it, and train, play and load_policy all find it.

The env lives in a module written to a temporary directory, as a user's `myenvs.py` would, and is
named the way gymnasium names such envs: `myenvs:Corridor-v0` (import myenvs, then make
Corridor-v0), or `--env-package myenvs --env Corridor-v0`. Its observation is Discrete, so the same
runs also cover the one-hot encoding of Discrete observations, and FrozenLake covers env kwargs.
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

import a3c_cartpole
from a3c_cartpole.cli import main
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.playback.saved_policy import save_weights
from a3c_cartpole.training.outputs import RunFiles
from tests.conftest import build_mlp

MODULE = "myenvs"
ENV = f"{MODULE}:Corridor-v0"
LENGTH = 5  # cells 0..4; the goal is cell 4, the start cell 0
MYENVS = textwrap.dedent(
    f"""
    import gymnasium as gym


    class Corridor(gym.Env):
        '''Walk right to the end of a corridor: reward 1 there, 0 elsewhere; cells are observed by index.'''

        observation_space = gym.spaces.Discrete({LENGTH})
        action_space = gym.spaces.Discrete(2)  # 0: left, 1: right

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.cell = 0
            return self.cell, {{}}

        def step(self, action):
            self.cell = min(max(self.cell + (1 if action == 1 else -1), 0), {LENGTH - 1})
            at_goal = self.cell == {LENGTH - 1}
            return self.cell, float(at_goal), at_goal, False, {{}}


    gym.register("Corridor-v0", entry_point=Corridor, max_episode_steps=20, reward_threshold=0.99)
    """
)


@pytest.fixture(scope="module")
def myenvs(tmp_path_factory):
    """`myenvs.py` in a directory on sys.path, as a user's own module; forgotten again afterwards."""
    directory = tmp_path_factory.mktemp("user_code")
    (directory / f"{MODULE}.py").write_text(MYENVS)
    sys.path.insert(0, str(directory))  # not PYTHONPATH: the evaluation child process must inherit it anyway
    yield directory
    sys.path.remove(str(directory))
    sys.modules.pop(MODULE, None)
    gym.registry.pop("Corridor-v0", None)


def run_cli(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def corridor_run(myenvs, tmp_path_factory):
    """A short seeded training run on the user's env, through the command line."""
    save_dir = tmp_path_factory.mktemp("corridor")
    code = main(["--train", "--env", ENV, "--seed", "0", "--workers", "1", "--max-steps", "20000", "--eval-every",
                 "500", "--quiet", "--save-dir", str(save_dir)])  # fmt: skip
    return save_dir, code


def test_own_env_by_module_id_trains_to_its_threshold(corridor_run):
    save_dir, code = corridor_run
    assert code == 0
    record = json.loads(RunFiles(save_dir, ENV).run_record.read_text())
    assert record["env_id"] == ENV and record["solved"] is True
    assert record["env_kwargs"] == {} and record["env_package"] is None


def test_own_env_plays_from_the_command_line(corridor_run, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    save_dir, _ = corridor_run
    code, out, err = run_cli(["--play", "--env", ENV, "--episodes", "3", "--save-dir", save_dir], capsys)
    assert code == 0, err
    assert [line for line in out.splitlines() if line.startswith("episode ")] == [
        f"episode {i}: return 1" for i in (1, 2, 3)
    ]
    assert (
        out.splitlines()[-1].startswith(f"{ENV}: mean 1.00 ± 0.00")
        and "at or above the solved threshold of 0.99" in out
    )


def test_load_policy_walks_right_from_every_cell_given_plain_indices(corridor_run):
    policy = a3c_cartpole.load_policy(corridor_run[0])
    assert policy.env_id == ENV and policy.info.obs_shape[0] == LENGTH
    assert [policy(cell) for cell in range(LENGTH - 1)] == [1] * (LENGTH - 1)  # what gym.make's env returns
    env = gym.make(ENV)
    obs, _ = env.reset(seed=0)
    for _ in range(LENGTH - 1):
        obs, reward, terminated, _, _ = env.step(policy(obs))
    assert terminated and reward == 1.0


def test_own_env_files_are_named_without_a_colon(corridor_run):
    names = [path.name for path in corridor_run[0].rglob("*")]
    assert "myenvs+Corridor-v0_best.weights.h5" in names and "myenvs+Corridor-v0" in names  # + checkpoints/
    assert not [name for name in names if ":" in name]


def test_run_saved_under_the_old_names_still_plays_loads_and_resumes(corridor_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    old = tmp_path / "old"
    shutil.copytree(corridor_run[0], old)
    for path in sorted(old.rglob("*myenvs+*"), key=lambda p: -len(p.parts)):  # deepest first
        path.rename(path.with_name(path.name.replace("myenvs+", "myenvs:")))
    policy = a3c_cartpole.load_policy(old)
    assert policy.env_id == ENV and [policy(cell) for cell in range(LENGTH - 1)] == [1] * (LENGTH - 1)
    code, out, err = run_cli(["--play", "--env", ENV, "--episodes", "1", "--save-dir", old], capsys)
    assert code == 0 and "episode 1: return 1" in out, err
    episodes_before = len(RunFiles(old, ENV).episodes_csv.read_text().splitlines())
    code, out, err = run_cli(["--train", "--resume", "--env", ENV, "--max-steps", "21000", "--workers", "1",
                              "--quiet", "--save-dir", old], capsys)  # fmt: skip
    assert code == 0, err
    assert not list(old.rglob("*myenvs+*"))  # the resumed run kept writing under the names it had
    assert len((old / "myenvs:Corridor-v0_episodes.csv").read_text().splitlines()) > episodes_before


def test_env_package_names_the_module_for_the_random_baseline(myenvs, capsys):
    code, out, err = run_cli(["--algorithm", "random", "--env-package", MODULE, "--env", "Corridor-v0",
                              "--episodes", "50"], capsys)  # fmt: skip
    assert code == 0, err
    assert out.startswith("Random baseline on Corridor-v0: average score ") and "over 50 episodes" in out


def test_discrete_observation_one_hot_encoding_survives_save_and_load(tmp_path):
    # A random FrozenLake network, saved and loaded: the loaded policy, fed plain cell indices (as a
    # user's gymnasium loop gives them) or one-hot rows (as training saw them), acts as the network did.
    info = describe_env("FrozenLake-v1")
    assert info.obs_shape[0] == 16
    network = build_mlp(info.obs_shape[0], info.n_actions, 8).snapshot()
    files = RunFiles(tmp_path, "FrozenLake-v1")
    save_weights(network, info, files.best_weights)
    files.run_record.write_text(json.dumps({"env_id": "FrozenLake-v1", "hidden": 8}))
    one_hot = np.eye(16, dtype=np.float32)
    expected = network.greedy(one_hot)
    assert len(set(expected.tolist())) > 1  # the states are told apart, so equality below means something
    policy = a3c_cartpole.load_policy(files.best_weights)
    assert [policy(cell) for cell in range(16)] == expected.tolist()
    assert [policy(row) for row in one_hot] == expected.tolist()


def test_env_kwargs_survive_into_the_run_record_and_play(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    code, _, err = run_cli(["--train", "--quiet", "--env", "FrozenLake-v1", "--env-kwargs", "map_name=8x8",
                            "is_slippery=False", "--max-eps", "20", "--workers", "1", "--envs-per-worker", "2",
                            "--seed", "0", "--save-dir", tmp_path], capsys)  # fmt: skip
    assert code == 3, err  # 20 episodes: the budget ends it unsolved
    record = json.loads(RunFiles(tmp_path, "FrozenLake-v1").run_record.read_text())
    assert record["env_kwargs"] == {"map_name": "8x8", "is_slippery": False}
    policy = a3c_cartpole.load_policy(tmp_path)
    assert policy.info.obs_shape[0] == 64 and policy.network.arrays()[0].shape[0] == 64  # 8x8 cells, one-hot
    # --play rebuilds the 8x8 map from the record, without being told
    code, out, err = run_cli(["--play", "--env", "FrozenLake-v1", "--episodes", "2", "--save-dir", tmp_path], capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("FrozenLake-v1: mean")
    # the user's --env-kwargs win over the record's: the 4x4 map has 16 cells, not the network's 64
    code, out, err = run_cli(["--play", "--env", "FrozenLake-v1", "--env-kwargs", "map_name=4x4",
                              "--save-dir", tmp_path], capsys)  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "16 inputs" in err


def test_a_run_with_linear_heads_saves_tables_whose_policy_has_no_bias(tmp_path, capsys, monkeypatch):
    # --layers 0 on a Discrete observation: the saved network is one kernel row per cell in each head.
    # After real updates the value's bias has moved and the policy's is still exactly 0, in the weights
    # file the run saved and in the record --play rebuilds from.
    monkeypatch.delenv("DISPLAY", raising=False)
    code, _, err = run_cli(["--train", "--quiet", "--env", "FrozenLake-v1", "--layers", "0", "--max-eps", "40",
                            "--workers", "1", "--envs-per-worker", "2", "--seed", "0", "--save-dir", tmp_path],
                           capsys)  # fmt: skip
    assert code == 3, err  # 40 episodes: the budget ends it unsolved
    record = json.loads(RunFiles(tmp_path, "FrozenLake-v1").run_record.read_text())
    assert record["layers"] == 0
    network = a3c_cartpole.load_policy(RunFiles(tmp_path, "FrozenLake-v1").final_weights).network
    policy_kernel, policy_bias, value_kernel, value_bias = network.arrays()
    assert network.layers == 0 and policy_kernel.shape == (16, 4) and value_kernel.shape == (16, 1)
    np.testing.assert_array_equal(policy_bias, np.zeros(4))
    assert value_bias[0] != 0.0
    code, out, err = run_cli(["--play", "--env", "FrozenLake-v1", "--episodes", "2", "--save-dir", tmp_path], capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("FrozenLake-v1: mean")
