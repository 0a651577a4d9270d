"""--normalize-obs: running statistics shared by the workers, saved with the weights, used wherever the policy acts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import a3c_cartpole
from a3c_cartpole import train
from a3c_cartpole.cli import main
from a3c_cartpole.networks.acting_copy import NORMALIZER_CLIP
from a3c_cartpole.training.checkpoints import checkpoint_dir
from a3c_cartpole.training.outputs import RunFiles
from tests.conftest import build_mlp

ENV = "CartPole-v1"
ROLLOUT = 5 * 4  # states per update: --update-freq 5 x 4 envs
RUN = dict(
    env=ENV,
    workers=1,
    envs_per_worker=4,
    update_freq=5,
    seed=3,
    normalize_obs=True,
    checkpoint_every=5,
    verbose=False,
)


def test_normalizer_merges_batches_into_the_statistics_of_all_their_rows():
    rng = np.random.default_rng(0)
    batches = [rng.normal(loc=3.0, scale=2.0, size=(n, 4)).astype(np.float32) for n in (7, 40, 1, 13)]
    model = build_mlp(4, 2, 8, normalize_obs=True)
    for batch in batches:
        model.observation_normalizer.absorb(tf.constant(batch))
    rows = np.concatenate(batches)  # the statistics of every row at once, computed by numpy
    np.testing.assert_allclose(model.observation_normalizer.mean.numpy(), rows.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(model.observation_normalizer.variance.numpy(), rows.var(axis=0), rtol=1e-4)
    assert float(model.observation_normalizer.count.numpy()) == len(rows)


def test_numpy_copy_normalizes_and_clips_like_the_keras_model():
    model = build_mlp(3, 2, 8, normalize_obs=True)
    model.observation_normalizer.absorb(
        tf.constant([[0.0, 10.0, -1.0], [2.0, 30.0, 1.0]])
    )  # mean [1, 20, 0], std [1, 10, 1]
    states = np.array([[1.0, 20.0, 0.0], [2.0, 40.0, 50.0]], dtype=np.float32)
    # normalised by hand: [0, 0, 0] and [1, 2, 50 -> clipped to 10]
    expected = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, NORMALIZER_CLIP]], dtype=np.float32)
    np.testing.assert_allclose(np.asarray(model.observation_normalizer(states)), expected, atol=1e-4)
    logits, values = model(states)
    network = model.snapshot()
    np.testing.assert_allclose(network.logits(states), np.asarray(logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(network.values(states), np.asarray(values), rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def normalized_run(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("normalized")
    train(save_dir=save_dir, max_eps=30, **RUN)
    return save_dir


def saved_statistics(path) -> np.ndarray:
    network = a3c_cartpole.load_policy(path).network
    mean, variance, count = network.arrays()[-3:]
    return np.concatenate([mean, variance, [count]])


def updates(save_dir) -> int:
    return json.loads(RunFiles(save_dir, ENV).run_record.read_text())["updates"]


def test_statistics_are_learned_and_saved_with_the_weights(normalized_run):
    stats = saved_statistics(normalized_run / f"{ENV}_final.weights.h5")
    mean, variance, count = stats[:4], stats[4:8], stats[8]
    assert count == ROLLOUT * updates(normalized_run)  # every update merged its whole rollout, once
    assert np.all(variance > 0) and not np.allclose(variance, 1.0)  # moved from the initial unit variance
    assert np.all(np.abs(mean) < 2.5)  # CartPole's states stay near the origin


def test_play_and_load_policy_apply_the_saved_statistics(normalized_run, capsys):
    policy = a3c_cartpole.load_policy(normalized_run)
    assert policy.network.normalize_obs  # rebuilt from the run record
    obs = np.array([0.01, 0.5, -0.02, -0.4], dtype=np.float32)
    mean, variance, _ = policy.network.arrays()[-3:]
    # the same network without normalisation, fed the normalised observation by hand, must agree
    layers_only = type(policy.network)(policy.network.arrays()[:-3], policy.network.activation)
    by_hand = layers_only.greedy(((obs - mean) / np.sqrt(variance + 1e-8)).reshape(1, -1))[0]
    assert policy(obs) == by_hand
    code = main(["--play", "--save-dir", str(normalized_run), "--episodes", "2", "--json"])
    assert code == 0 and '"episodes": 2' in capsys.readouterr().out


def test_resume_restores_the_statistics_and_keeps_merging(normalized_run, tmp_path):
    checkpoint = tf.train.latest_checkpoint(str(checkpoint_dir(normalized_run, ENV)))
    at_checkpoint = tf.train.load_variable(checkpoint, "model/observation_normalizer/count/.ATTRIBUTES/VARIABLE_VALUE")
    final_count = saved_statistics(normalized_run / f"{ENV}_final.weights.h5")[-1]
    assert float(at_checkpoint) == pytest.approx(final_count)  # the last checkpoint is the final state
    result = train(save_dir=normalized_run, max_eps=50, resume=True, **RUN)
    assert result.episodes == 50
    resumed_count = saved_statistics(RunFiles(normalized_run, ENV).final_weights)[-1]
    assert resumed_count == ROLLOUT * updates(normalized_run)  # continued from the saved count, not from zero
    with pytest.raises(a3c_cartpole.config.ConfigError, match="has normalize_obs True, not False"):
        train(save_dir=normalized_run, max_eps=60, resume=True, **{**RUN, "normalize_obs": False})
