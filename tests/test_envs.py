"""Env checks and env making: one-hot Discrete observations, env kwargs, and refusals before TensorFlow."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

from a3c_cartpole.cli import parse_env_kwarg
from a3c_cartpole.config import ConfigError, TrainConfig
from a3c_cartpole.envs.making import make_env, make_vector_env
from a3c_cartpole.envs.spec import describe_env, encode_observation


def test_discrete_observations_are_one_hot_rows_in_vector_envs():
    info = describe_env("FrozenLake-v1", {"map_name": "8x8", "is_slippery": False})
    assert (info.obs_shape[0], info.n_actions, info.reward_threshold) == (64, 4, 0.7)
    envs, obs = make_vector_env(info, 3, seed=0)
    try:
        assert obs.shape == (3, 64) and obs.dtype == np.float32
        np.testing.assert_array_equal(obs, np.eye(64, dtype=np.float32)[[0, 0, 0]])  # every map starts in cell 0
        obs, *_ = envs.step(np.array([1, 2, 2]))  # down, right, right: not slippery, so these land
        np.testing.assert_array_equal(obs.argmax(axis=1), [8, 1, 1])
        assert (obs.sum(axis=1) == 1).all()
    finally:
        envs.close()


def test_env_kwargs_reach_single_envs_too():
    info = describe_env("FrozenLake-v1", {"map_name": "8x8", "is_slippery": False})
    env = make_env(info)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (64,) and env.unwrapped.desc.shape == (8, 8)
    env.close()


def test_an_observation_is_encoded_the_same_from_an_index_or_a_one_hot_row():
    info = describe_env("Taxi-v4")
    row = encode_observation(info, 123)
    assert row.shape == (1, 500) and row.dtype == np.float32 and row[0, 123] == 1 and row.sum() == 1
    np.testing.assert_array_equal(encode_observation(info, row[0]), row)
    box = describe_env("CartPole-v1")
    np.testing.assert_array_equal(encode_observation(box, [0.5, 0.25, 2.0, -1.0]), [[0.5, 0.25, 2.0, -1.0]])


@pytest.mark.parametrize(
    ("text", "pair"),
    [
        ("map_name=8x8", ("map_name", "8x8")),
        ("is_slippery=False", ("is_slippery", False)),
        ("max_episode_steps=200", ("max_episode_steps", 200)),
        ("gravity=-9.8", ("gravity", -9.8)),
        ("desc=['SF', 'HG']", ("desc", ["SF", "HG"])),
        ("render_mode=None", ("render_mode", None)),
        ("name=", ("name", "")),
    ],
)
def test_env_kwargs_values_are_python_literals_or_text(text, pair):
    assert parse_env_kwarg(text) == pair


@pytest.mark.parametrize("text", ["map_name", "=8x8", "two words=1"])
def test_env_kwargs_need_a_name_and_an_equals_sign(text):
    with pytest.raises(argparse.ArgumentTypeError, match="key=value"):
        parse_env_kwarg(text)


def test_env_kwargs_that_a_run_record_cannot_store_are_refused():
    with pytest.raises(ConfigError, match="--env-kwargs"):
        TrainConfig(env_kwargs={"goals": {1, 2}})


@pytest.mark.parametrize(
    ("env_id", "kwargs", "says"),
    [
        ("NoSuchEnv-v0", {}, "unknown environment 'NoSuchEnv-v0'"),
        ("Taxi-v3", {}, "use Taxi-v4"),
        ("CliffWalking-v0", {}, "use CliffWalking-v1"),
        ("Pendulum-v1", {}, "Box action space"),
        ("Blackjack-v1", {}, "needs a flat Box, a Discrete or an image (rank-3 Box) observation"),
        ("CliffWalking-v1", {}, "--env-kwargs max_episode_steps=N"),
        ("FrozenLake-v1", {"map_nam": "8x8"}, "map_nam"),
        ("FrozenLake-v1", {"map_name": "9x9"}, "KeyError: '9x9'"),
        ("no_such_module:Corridor-v0", {}, "cannot import 'no_such_module'"),
    ],
)
def test_env_problems_are_one_line_naming_the_way_out(env_id, kwargs, says):
    with pytest.raises(ConfigError) as caught:
        describe_env(env_id, kwargs)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_env_package_is_named():
    with pytest.raises(ConfigError, match="cannot import --env-package no_such_module"):
        describe_env("CartPole-v1", {}, "no_such_module")


def test_env_errors_are_refused_before_tensorflow_is_imported(tmp_path):
    # Each mode checks the env first: a wrong one costs the user no TensorFlow start-up.
    script = (
        "import sys\n"
        "sys.modules['minatar'] = None\n"  # as if the minatar extra were not installed
        "from a3c_cartpole.cli import main\n"
        f"save = ['--save-dir', {str(tmp_path)!r}]\n"
        "codes = [\n"
        "    main(['--train', '--env', 'Taxi-v3', *save]),\n"
        "    main(['--train', '--env', 'MinAtar/Breakout-v1', *save]),\n"
        "    main(['--train', '--env', 'FrozenLake-v1', '--env-kwargs', 'map_name=9x9', *save]),\n"
        "    main(['--train', '--env-package', 'no_such_module', *save]),\n"
        "    main(['--play', '--env', 'NoSuchEnv-v0', *save]),\n"
        "    main(['--algorithm', 'random', '--env', 'Pendulum-v1']),\n"
        "]\n"
        "print(codes, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.stdout.strip() == "[2, 2, 2, 2, 2, 2] False False", proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 6 and all(line.startswith("a3c-cartpole: error:") for line in lines)
    assert not list(tmp_path.iterdir())  # nothing written for a run that never started
