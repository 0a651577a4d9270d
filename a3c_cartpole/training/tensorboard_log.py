"""TensorBoard event files of a training run, written with `tf.summary` only.

`tensorboard --logdir <save-dir>` then shows, against global env steps:

    charts/episodic_return, charts/episodic_length, charts/moving_average (100 episodes)
    charts/SPS (env steps per second), charts/learning_rate
    losses/policy_loss, losses/value_loss, losses/entropy, losses/total_loss, losses/grad_norm
    eval/greedy_mean, eval/greedy_std (each solved check)

and the run's settings as a markdown table under the text tab. Tags are grouped by prefix, as in
CleanRL.

Only the master thread writes, about once a second: the episodes that reached the ledger since,
the worker loss terms, the throughput. Everything queued goes to TensorFlow in one call of one
compiled function (~12 us a value, against ~100 us eagerly); logging every poll instead (20 a
second) halved the workers' env steps/s on 2 cores, once a second costs nothing measurable.

Since TF 2.21 TensorFlow no longer installs TensorBoard, and `tf.summary.scalar` / `text` raise
without it. This module uses `tf.summary.write` with the scalar and text plugins' metadata, which
is what those two functions do, so training logs the same events whether or not TensorBoard is
installed; only viewing them needs `pip install tensorboard`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from a3c_cartpole.a3c.ledger import EpisodeRecord
from a3c_cartpole.training.outputs import MOVING_AVERAGE_WINDOW, RunFiles, moving_average, write_failure

# Loss terms, SPS and learning rate are logged at most this often.
STATS_SECONDS = 1.0
# Events reach the disk at least this often (TensorFlow's default is two minutes).
FLUSH_MILLIS = 5_000

# Worker statistics (UpdateStats fields) -> tags.
LOSS_TAGS = {
    "policy": "losses/policy_loss",
    "value": "losses/value_loss",
    "entropy": "losses/entropy",
    "total": "losses/total_loss",
    "grad_norm": "losses/grad_norm",
}


def _metadata(plugin: str) -> bytes:
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin)
    ).SerializeToString()


SCALAR_METADATA = _metadata("scalars")
TEXT_METADATA = _metadata("text")


def _batch_writer(writer: tf.summary.SummaryWriter):
    """A compiled function writing one scalar event per (tag, step, value) to `writer`.

    One per writer: a traced function keeps the writer it was traced with. The loop is a
    `tf.while_loop` written out, not autograph's rewrite of a Python loop: autograph writes its
    rewrite to a temp file that only an exit hook deletes, and the command exits without hooks
    (cli.entry), which left one file in /tmp per run.
    """

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.float32),
        ],
        autograph=False,
    )
    def write_batch(tags, steps, values):
        def write_one(i):
            written = tf.summary.write(tags[i], values[i], step=steps[i], metadata=SCALAR_METADATA)
            with tf.control_dependencies([written]):  # the next index only once this event is written
                return (i + 1,)

        with writer.as_default():
            tf.while_loop(lambda i: i < tf.shape(steps)[0], write_one, (tf.constant(0),))

    return write_batch


def tensorboard_dir(save_dir: Path, env_id: str) -> Path:
    """Where a run's event files go; a resumed run appends new files to the same directory."""
    return RunFiles(save_dir, env_id).tensorboard


def settings_table(settings: dict) -> str:
    """The run's settings as a markdown table (TensorBoard renders it in the text tab)."""
    rows = "\n".join(f"|{key}|{value}|" for key, value in settings.items())
    return "|setting|value|\n|-|-|\n" + rows


class TrainingBoard:
    """Writes one run's events; call `poll` from the master loop, `close` at the end."""

    def __init__(self, log_dir: Path, episodes_logged: int = 0, steps: int = 0) -> None:
        """`episodes_logged` and `steps`: where a resumed run starts, so it appends, never repeats."""
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir = log_dir
        self._writer = tf.summary.create_file_writer(str(log_dir), flush_millis=FLUSH_MILLIS)
        self._write_batch = _batch_writer(self._writer)
        self._pending: tuple[list, list, list] = ([], [], [])
        self._logged = episodes_logged
        self._last_time = time.perf_counter()
        self._last_steps = steps
        self.failed = False

    def _series(self, tag: str, steps: Sequence[int], values: Sequence[float]) -> None:
        """Queue scalars; `write` sends the queue to TensorFlow in one call."""
        tags, all_steps, all_values = self._pending
        tags.extend([tag] * len(steps))
        all_steps.extend(steps)
        all_values.extend(values)

    def write(self) -> None:
        """Send the queue to TensorFlow. If the events file cannot be written (a full disk), raise
        `WriteFailed` once and write nothing more: the run stops, and its other files still get written."""
        tags, steps, values = self._pending
        self._pending = ([], [], [])
        if tags and not self.failed:
            with self._writing():
                self._write_batch(tf.constant(tags), np.asarray(steps, np.int64), np.asarray(values, np.float32))

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except tf.errors.OpError as err:
            self.failed = True
            raise write_failure(self.log_dir / "events.out.tfevents.*", err) from None

    def settings(self, settings: dict, step: int = 0) -> None:
        """Log the run's settings as text (a resumed run logs its own at the step it resumed from)."""
        with self._writing(), self._writer.as_default():
            tf.summary.write("settings", tf.constant(settings_table(settings)), step=step, metadata=TEXT_METADATA)

    def poll(self, episodes: Sequence[EpisodeRecord], steps: int, stats, learning_rate) -> None:
        """About once a second: log new episodes, SPS, learning rate and the mean worker losses.

        Cheap to call often: in between it does nothing. One TensorFlow call a second at most,
        because a TensorFlow call on the master thread competes with the workers' own.
        `stats`: a function returning the latest UpdateStats of each worker (None before its first
        update); `learning_rate`: a number, or a function returning it. Both are read only when logged.
        """
        now = time.perf_counter()
        if now - self._last_time < STATS_SECONDS:
            return
        self.episodes(episodes)
        self.stats(steps, stats(), learning_rate() if callable(learning_rate) else learning_rate, now)
        self.write()

    def episodes(self, episodes: Sequence[EpisodeRecord]) -> None:
        """Return, length and the 100-episode moving average of every new episode."""
        new = episodes[self._logged :]
        if not new:
            return
        first = max(0, self._logged - (MOVING_AVERAGE_WINDOW - 1))
        # The window of each new episode reaches back at most 99 episodes, all inside this slice.
        moving = moving_average([e.episode_return for e in episodes[first:]])[-len(new) :]
        steps = [e.global_step for e in new]
        self._series("charts/episodic_return", steps, [e.episode_return for e in new])
        self._series("charts/episodic_length", steps, [e.length for e in new])
        self._series("charts/moving_average", steps, moving)
        self._logged = len(episodes)

    def stats(self, steps: int, stats: Sequence, learning_rate: float, now: float | None = None) -> None:
        """Throughput since the last call, the learning rate, and the worker loss terms averaged."""
        now = time.perf_counter() if now is None else now
        if steps > self._last_steps:  # nothing to say about speed when no step was taken (e.g. at the end)
            self._series("charts/SPS", [steps], [(steps - self._last_steps) / max(now - self._last_time, 1e-9)])
        self._last_time, self._last_steps = now, steps
        self._series("charts/learning_rate", [steps], [learning_rate])
        stats = [s for s in stats if s is not None]
        if stats:
            for field, tag in LOSS_TAGS.items():
                self._series(tag, [steps], [float(np.mean([getattr(s, field) for s in stats]))])

    def evaluation(self, mean: float, std: float, steps: int) -> None:
        """One solved check of the greedy policy."""
        self._series("eval/greedy_mean", [steps], [mean])
        self._series("eval/greedy_std", [steps], [std])

    def close(self) -> None:
        self.write()
        if not self.failed:
            with self._writing():
                self._writer.flush()
        self._writer.close()


def run_settings(config, seed: int, **extra) -> dict:
    """The settings table of a run: every TrainConfig field, the seed actually used, and `extra`."""
    settings = config.as_dict()
    settings["seed"] = seed
    settings.update(extra)
    return settings
