"""`a3c_cartpole.load_policy`: from a save dir or a weights file to a greedy policy, and its errors."""

from __future__ import annotations

import json
import shutil

import gymnasium as gym
import numpy as np
import pytest
import tensorflow as tf

import a3c_cartpole
from a3c_cartpole import train
from a3c_cartpole.config import ConfigError
from a3c_cartpole.playback.play import play
from a3c_cartpole.training.checkpoints import checkpoint_dir
from tests.conftest import build_mlp

ENV = "CartPole-v1"


@pytest.fixture(scope="module")
def save_dir(tmp_path_factory):
    """A short seeded run of the default network (no preset): enough learning that the policy uses both actions."""
    directory = tmp_path_factory.mktemp("policy")
    train(env=ENV, preset="none", seed=0, workers=1, save_dir=directory, max_steps=15_000, verbose=False)
    return directory


@pytest.fixture(scope="module")
def states():
    """1,000 CartPole states from random play, plus 200 random points around them."""
    env = gym.make(ENV)
    rng = np.random.default_rng(0)
    out = []
    obs, _ = env.reset(seed=0)
    while len(out) < 1000:
        out.append(obs)
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    out.extend(rng.normal(0.0, [1.0, 1.0, 0.1, 1.0], size=(200, 4)))
    return np.asarray(out, dtype=np.float32)


def keras_actions(weights_file, states):
    """Greedy actions computed by TensorFlow from the weights file (independent of the numpy copy),
    in the network the run record beside it names (the env's preset may change the default one)."""
    record = json.loads((weights_file.parent / f"{ENV}_run.json").read_text())
    model = build_mlp(4, 2, record["hidden"], record["layers"], record["activation"], record["normalize_obs"])
    model.load_weights(weights_file)
    logits, _ = model(states)
    return np.argmax(np.asarray(logits), axis=1)


def policy_actions(policy, states):
    actions = [policy(s) for s in states]
    assert all(type(a) is int for a in actions)  # a plain int, ready for env.step
    return np.array(actions)


def test_policy_from_dir_acts_like_the_best_model_snapshot(save_dir, states):
    policy = a3c_cartpole.load_policy(save_dir)
    assert policy.env_id == ENV  # found from the run record: no env id needed
    actions = policy_actions(policy, states)
    assert set(actions.tolist()) == {0, 1}  # both actions used, so the comparison below means something
    np.testing.assert_array_equal(actions, keras_actions(save_dir / f"{ENV}_best.weights.h5", states))


def test_policy_from_weights_file_acts_like_that_file(save_dir, states):
    for kind in ("best", "final"):
        path = save_dir / f"{ENV}_{kind}.weights.h5"
        policy = a3c_cartpole.load_policy(path)  # env id read from the file name
        assert policy.env_id == ENV
        np.testing.assert_array_equal(policy_actions(policy, states), keras_actions(path, states))
    # and from a str path, with the env named explicitly
    best = save_dir / f"{ENV}_best.weights.h5"
    same = a3c_cartpole.load_policy(str(best), env_id=ENV)
    np.testing.assert_array_equal(policy_actions(same, states), keras_actions(best, states))


def test_save_dir_without_best_model_falls_back_to_final(save_dir, tmp_path, states):
    shutil.copy(save_dir / f"{ENV}_final.weights.h5", tmp_path)
    shutil.copy(save_dir / f"{ENV}_run.json", tmp_path)
    policy = a3c_cartpole.load_policy(tmp_path)
    np.testing.assert_array_equal(
        policy_actions(policy, states), keras_actions(save_dir / f"{ENV}_final.weights.h5", states)
    )


def plain_scores(policy, seeds):
    """What a user gets looping over seeds with plain gymnasium."""
    env = gym.make(ENV)
    scores = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += reward
            done = terminated or truncated
        scores.append(total)
    env.close()
    return scores


def test_play_reports_exactly_the_scores_of_a_plain_gymnasium_loop(save_dir):
    policy = a3c_cartpole.load_policy(save_dir)
    expected = plain_scores(policy, range(5))
    lines = []
    report = play(policy, 5, seed=0, window=False, echo=lines.append)
    assert report.returns.tolist() == expected
    assert lines == [f"episode {i + 1}: return {score:g}" for i, score in enumerate(expected)]
    assert report.threshold == 475
    assert report.solved == (np.mean(expected) >= 475)


def test_network_of_two_tanh_layers_is_rebuilt_from_the_run_record(tmp_path, states):
    options = dict(hidden=16, layers=2, activation="tanh")
    train(env=ENV, seed=0, workers=1, save_dir=tmp_path, max_eps=20, verbose=False, **options)
    network = a3c_cartpole.load_policy(tmp_path).network  # shaped by the run record, not by arguments
    assert (network.layers, network.hidden, network.activation) == (2, 16, "tanh")
    final = a3c_cartpole.load_policy(tmp_path / f"{ENV}_final.weights.h5").network
    # the run's last checkpoint holds the same final weights, saved by another path
    model = build_mlp(4, 2, 16, layers=2, activation="tanh")
    last_checkpoint = tf.train.latest_checkpoint(str(checkpoint_dir(tmp_path, ENV)))
    tf.train.Checkpoint(model=model).read(last_checkpoint).expect_partial()
    assert all(np.array_equal(a, b) for a, b in zip(model.snapshot().arrays(), final.arrays(), strict=True))
    logits, _ = model(states)  # and the loaded copy computes what the tanh network computes
    np.testing.assert_allclose(final.logits(states), np.asarray(logits), rtol=1e-5, atol=1e-5)


def test_weights_of_cartpole_loaded_as_acrobot_is_one_clear_error(save_dir):
    path = save_dir / f"{ENV}_best.weights.h5"
    with pytest.raises(ConfigError) as caught:
        a3c_cartpole.load_policy(path, env_id="Acrobot-v1")
    message = str(caught.value)
    assert "\n" not in message and "Acrobot-v1" in message and str(path) in message


def test_cartpole_weights_renamed_as_acrobot_file_are_refused(save_dir, tmp_path):
    renamed = tmp_path / "Acrobot-v1_best.weights.h5"
    shutil.copy(save_dir / f"{ENV}_best.weights.h5", renamed)
    with pytest.raises(ConfigError, match="Acrobot-v1"):
        a3c_cartpole.load_policy(renamed)  # env id taken from the name: shapes 6->3 do not fit 4->2
    with pytest.raises(ConfigError, match="Acrobot-v1"):
        a3c_cartpole.load_policy(tmp_path, env_id="Acrobot-v1")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_weights_file_is_a_config_error(save_dir, tmp_path, damage):
    good = (save_dir / f"{ENV}_best.weights.h5").read_bytes()
    data = b"this is not an HDF5 file \x00\x01\x02" * 50 if damage == "garbage" else good[: len(good) // 2]
    bad = tmp_path / f"{ENV}_best.weights.h5"
    bad.write_bytes(data)
    shutil.copy(save_dir / f"{ENV}_run.json", tmp_path)
    for target in (bad, tmp_path):
        with pytest.raises(ConfigError) as caught:
            a3c_cartpole.load_policy(target)
        assert "\n" not in str(caught.value) and str(bad) in str(caught.value)
    assert bad.read_bytes() == data  # the failed load left the file alone


def test_dir_without_model_names_how_to_train(tmp_path):
    with pytest.raises(ConfigError) as caught:
        a3c_cartpole.load_policy(tmp_path, env_id=ENV)
    message = str(caught.value)
    assert "a3c-cartpole --train" in message and str(tmp_path) in message and "\n" not in message


def test_dir_without_model_names_how_to_train_without_env_id(tmp_path):
    with pytest.raises(ConfigError, match="--train"):
        a3c_cartpole.load_policy(tmp_path)


def test_missing_path_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "a3c_runs"
    with pytest.raises(ConfigError, match="a3c_runs"):
        a3c_cartpole.load_policy(missing)


def test_dir_whose_run_stopped_before_saving_weights_says_to_resume_it(tmp_path):
    # A run killed before its end has checkpoints but no weights: a fresh --train would be refused,
    # so the message names --resume (and finds the env from the checkpoint when none is given).
    checkpoint_dir(tmp_path, ENV).mkdir(parents=True)
    (checkpoint_dir(tmp_path, ENV) / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    for env_id in (ENV, None):
        with pytest.raises(ConfigError) as caught:
            a3c_cartpole.load_policy(tmp_path, env_id=env_id)
        assert str(caught.value).endswith(
            "finish it, with any network flags it began with: "
            f"a3c-cartpole --train --env {ENV} --save-dir {tmp_path} --resume"
        )


def test_dir_with_a_run_but_no_checkpoint_or_weights_says_to_overwrite_it(tmp_path):
    (tmp_path / f"{ENV}_episodes.csv").write_text("episode,worker,return,length,global_step,wall_time\n")
    with pytest.raises(ConfigError, match=r"start over: a3c-cartpole --train .* --overwrite$"):
        a3c_cartpole.load_policy(tmp_path, env_id=ENV)
