"""TensorBoard: a short run writes event files with every tag the README promises, against env steps."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.util import event_pb2

from a3c_cartpole import train
from a3c_cartpole.training.tensorboard_log import tensorboard_dir

EXPECTED_TAGS = {
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/moving_average",
    "charts/SPS",
    "charts/learning_rate",
    "losses/policy_loss",
    "losses/value_loss",
    "losses/entropy",
    "losses/total_loss",
    "losses/grad_norm",
    "eval/greedy_mean",
    "eval/greedy_std",
    "settings",
}
PLUGINS: dict[str, str] = {}


def read_events(log_dir) -> dict[str, list[tuple[int, object]]]:
    """tag -> [(step, value)] over every event file in log_dir, in file order; PLUGINS[tag] = plugin."""
    series: dict[str, list[tuple[int, object]]] = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(str(path)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                data = tf.make_ndarray(value.tensor)
                PLUGINS.setdefault(value.tag, value.metadata.plugin_data.plugin_name)
                series.setdefault(value.tag, []).append((event.step, data.item() if data.ndim == 0 else data))
    return series


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("tb")
    result = train(save_dir=save_dir, max_eps=60, workers=1, envs_per_worker=4, seed=0, lr=1e-3, verbose=False)
    return result, read_events(tensorboard_dir(save_dir, "CartPole-v1"))


def test_event_files_hold_every_tag(short_run):
    _, events = short_run
    missing = EXPECTED_TAGS - set(events)
    assert not missing, missing


def test_every_episode_is_logged_once_against_global_steps(short_run):
    result, events = short_run
    returns = events["charts/episodic_return"]
    assert len(returns) == result.episodes == 60
    steps = [step for step, _ in returns]
    assert steps == sorted(steps) and steps[-1] <= result.steps
    moving = [value for _, value in events["charts/moving_average"]]
    assert moving[-1] == pytest.approx(np.mean([value for _, value in returns]), rel=1e-5)


def test_scalars_have_the_scalar_plugin_and_settings_are_a_markdown_table(short_run, tmp_path):
    _, events = short_run
    assert {PLUGINS[tag] for tag in EXPECTED_TAGS - {"settings"}} == {"scalars"}
    assert PLUGINS["settings"] == "text"
    assert events["charts/learning_rate"][-1][1] == pytest.approx(1e-3)
    assert events["charts/SPS"] and all(value > 0 for _, value in events["charts/SPS"])
    table = events["settings"][0][1].decode()
    assert table.startswith("|setting|value|") and "|lr|0.001|" in table and "|seed|0|" in table
