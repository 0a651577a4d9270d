"""Who may write a run into a save dir: one process at a time, and never over an earlier run unless told.

A fresh `--train` into a folder that already holds a run of the same env would replace its weights,
CSV, checkpoints and TensorBoard curves, maybe hours of training. So it is refused, with a line
naming both ways out: `--resume` continues that run, `--overwrite` removes it and starts over.

Everything here is pathlib and flock, no TensorFlow: the CLI calls `check_save_dir` before it loads
TensorFlow, so a refusal comes at once; `claim_save_dir` repeats the checks under the lock, which
is what makes them hold when two runs start at the same moment.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterator
from pathlib import Path

from a3c_cartpole.config import ConfigError, TrainConfig
from a3c_cartpole.training.outputs import RunFiles
from a3c_cartpole.training.run_lock import RunLock


def has_checkpoint(files: RunFiles) -> bool:
    """Whether `--resume` has something to continue (tf.train.CheckpointManager's index file)."""
    return (files.checkpoints / "checkpoint").is_file()


def _episodes_logged(files: RunFiles) -> int | None:
    """Rows of the run's episodes CSV (header excluded); None without one."""
    try:
        with open(files.episodes_csv, "rb") as handle:
            return max(sum(1 for _ in handle) - 1, 0)
    except OSError:
        return None


def _refuse_replacing(files: RunFiles, config: TrainConfig) -> None:
    """A fresh start (neither --resume nor --overwrite) over an earlier run of the env is refused."""
    if config.resume or config.overwrite or not files.existing():
        return
    episodes = _episodes_logged(files)
    run = f"a {files.env_id} run" + ("" if episodes is None else f" ({episodes:,} episodes)")
    if has_checkpoint(files):
        raise ConfigError(
            f"{files.save_dir} already holds {run}: continue it with --resume, or replace it with --overwrite"
        )
    raise ConfigError(
        f"{files.save_dir} already holds {run} but no checkpoint to resume: "
        "replace it with --overwrite, or use another --save-dir"
    )


def _lock(files: RunFiles) -> RunLock:
    return RunLock(files.lock, f"{files.save_dir} ({files.env_id})")


def check_save_dir(config: TrainConfig) -> None:
    """Refuse at once a run that `claim_save_dir` would refuse, or a save dir that cannot be written;
    takes nothing and writes nothing but the save dir itself, if it was missing."""
    ensure_writable(config.save_dir)
    files = RunFiles(config.save_dir, config.env_id)
    _lock(files).ensure_free()
    _refuse_replacing(files, config)


def ensure_writable(directory: Path) -> None:
    """Fail before training, not after, if results could not be saved."""
    blocker = next((path for path in (directory, *directory.parents) if path.exists()), None)
    if blocker is not None and not blocker.is_dir():  # mkdir would only say "File exists" or "Not a directory"
        raise ConfigError(f"cannot use save dir {directory}: {blocker} is a file, not a folder")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"cannot write to save dir {directory}: {err.strerror or err}") from None


@contextlib.contextmanager
def claim_save_dir(config: TrainConfig) -> Iterator[None]:
    """Hold the save dir's lock for this env's run (the save dir must exist); a fresh start over an
    earlier run is refused once the lock is held. Wrap everything the run writes in this block."""
    files = RunFiles(config.save_dir, config.env_id)
    with _lock(files):
        _refuse_replacing(files, config)
        yield


def train_command(
    save_dir: Path, env_id: str | None, env_kwargs: dict | None = None, env_package: str | None = None
) -> str:
    """The `--train` command line for this env (the default one if None) and save dir, ready to paste."""
    words = ["a3c-cartpole", "--train"]
    if env_id is not None:
        words += ["--env", env_id]
    if env_package:
        words += ["--env-package", env_package]
    if env_kwargs:
        words += ["--env-kwargs", *(f"{key}={value}" for key, value in env_kwargs.items())]
    words += ["--save-dir", str(save_dir)]
    return shlex.join(words)


def how_to_get_a_model(
    save_dir: Path, env_id: str | None, env_kwargs: dict | None = None, env_package: str | None = None
) -> str:
    """What to run for trained weights of `env_id` in `save_dir`, without destroying anything there:
    each suggestion is a command that works in that situation (a run in progress is waited for). The
    command ends the line, quoted for a shell, so it can be pasted as it is."""
    command = train_command(save_dir, env_id, env_kwargs, env_package)
    if env_id is None:
        return f"train one first: {command}"
    files = RunFiles(save_dir, env_id)
    holder = _lock(files).holder()
    if holder is not None:
        return f"a run of it is training there now (pid {holder}) and has saved no weights yet: play it when it ends"
    if has_checkpoint(files):
        began = "with any network flags it began with"
        return f"its run stopped before saving weights; finish it, {began}: {command} --resume"
    if files.existing():
        return f"its run left no checkpoint to resume; start over: {command} --overwrite"
    return f"train one first: {command}"
