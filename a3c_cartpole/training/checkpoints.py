"""Checkpoints of a training run, and `--resume` from the latest one.

A checkpoint is one `tf.train.Checkpoint` of the global model, the shared optimizer (its
moments and its `iterations` counter) and a small JSON run state kept in a string variable:
episodes, env steps, updates and seconds trained so far, the seed, each worker's action-sampling
RNG state, the best evaluation and when the run was solved. `tf.train.CheckpointManager` writes
one when a fresh run starts (so a run killed at any moment can be resumed), every `checkpoint_every`
updates, at the end and after a stop signal (Ctrl-C, SIGTERM, SIGHUP), and keeps the last three.

The episode log itself lives in episodes.csv, which is rewritten just before every checkpoint,
so on resume it holds at least the checkpoint's episodes; rows past them (a run killed between
the two writes) are dropped, so numbering continues with no gap and no duplicate.

What a checkpoint cannot hold is the envs' internal state: a resumed run starts fresh episodes.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import tensorflow as tf

from a3c_cartpole.a3c.global_model import GlobalModel, learning_rate
from a3c_cartpole.a3c.ledger import EpisodeLedger, EpisodeRecord
from a3c_cartpole.config import ConfigError, TrainConfig, first_line
from a3c_cartpole.envs.registry import kwargs_text
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.evaluation.solved_check import SolvedCheck
from a3c_cartpole.training.outputs import CSV_HEADER, RunFiles, write_episodes_csv, write_failure, write_json

if TYPE_CHECKING:
    from a3c_cartpole.parallel.workers import WorkerGroup

CHECKPOINTS_KEPT = 3
RUN_STATE_KEY = "run_state/.ATTRIBUTES/VARIABLE_VALUE"


def checkpoint_dir(save_dir: Path, env_id: str) -> Path:
    return RunFiles(save_dir, env_id).checkpoints


@dataclasses.dataclass
class RunState:
    """Where a run stands: what a checkpoint stores besides the weights and the optimizer."""

    env_id: str
    hidden: int
    obs_size: int
    n_actions: int
    seed: int
    episodes: int = 0
    steps: int = 0
    updates: int = 0
    seconds: float = 0.0
    worker_states: list = dataclasses.field(default_factory=list)
    best_eval_returns: list | None = None
    eval_count: int = 0
    evaluations: list = dataclasses.field(default_factory=list)
    """[episode, step, mean, std] of every evaluation so far."""
    solved_at: list | None = None
    """[episode, env step, seconds] of the first passed solved check, if any."""
    layers: int = 1
    # Checkpoints written before these options existed were relu networks trained with Adam.
    activation: str = "relu"
    optimizer: str = "adam"
    normalize_obs: bool = False
    network: str = "mlp"
    """The network's kind (networks/spec.py): checkpoints written before conv nets hold MLPs."""
    env_kwargs: str | None = None
    """The env's keyword arguments, as `kwargs_text` gives them; None in checkpoints written before."""
    segment_seeds: list = dataclasses.field(default_factory=list)
    """The seed of each segment of the run, the first one's (`seed`) included: a resumed segment seeds its
    envs anew, so that it does not replay the first segment's episodes. Empty in checkpoints written before."""

    @classmethod
    def from_json(cls, text: str) -> RunState:
        """Read a saved run state; fields that older versions stored and this one dropped are ignored."""
        known = {field.name for field in dataclasses.fields(cls)}
        saved = json.loads(text)
        saved.setdefault("worker_states", saved.get("worker_rngs", []))  # its name before --normalize-reward
        return cls(**{key: value for key, value in saved.items() if key in known})


def read_episodes_csv(path: Path) -> list[EpisodeRecord]:
    """The rows of an episodes.csv written by `write_episodes_csv`."""
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            if header != CSV_HEADER:
                raise ConfigError(f"{path} is not an episodes log (header {','.join(header) or 'missing'})")
            return [
                EpisodeRecord(int(ep), int(worker), float(ret), int(length), int(step), float(wall))
                for ep, worker, ret, length, step, wall in reader
            ]
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read the episode log {path}: {err}") from None


def saved_checkpoints(directory: Path) -> list[str]:
    """The checkpoint prefixes in `directory` (".../ckpt-7"), newest first, whether or not they read.

    Listed from the files, not from TensorFlow's `checkpoint` index: that names only what the manager
    tracks, and it can be damaged too."""
    indexes = Path(directory).glob("ckpt-*.index")
    prefixes = [str(index.with_suffix("")) for index in indexes if index.stem[len("ckpt-") :].isdigit()]
    return sorted(prefixes, key=checkpoint_number, reverse=True)


def checkpoint_number(prefix: str) -> int:
    return int(prefix.rsplit("-", 1)[1])


def resumable_episodes(
    saved: RunState, current: RunState, config: TrainConfig, directory: Path, files: RunFiles
) -> list[EpisodeRecord]:
    """The checkpoint's episode log, if this invocation (`current`, `config`) may continue `saved`; else
    ConfigError naming what differs (another env, network or optimizer, or a budget already spent)."""
    env_kwargs = current.env_kwargs
    if saved.env_id == config.env_id and saved.env_kwargs not in (None, env_kwargs):  # the env id, made otherwise
        raise ConfigError(
            f"cannot resume: the checkpoint in {directory} was trained with --env-kwargs "
            f"{saved.env_kwargs}, not {env_kwargs}: give the same --env-kwargs"
        )
    if saved.env_id != config.env_id or (saved.obs_size, saved.n_actions) != (
        current.obs_size,
        current.n_actions,
    ):
        raise ConfigError(f"cannot resume: the checkpoint in {directory} is for {saved.env_id}, not {config.env_id}")
    for flag, was, now in (
        ("--network", saved.network, current.network),
        ("--hidden", saved.hidden, config.hidden),
        ("--layers", saved.layers, config.layers),
        ("--activation", saved.activation, config.activation),
        ("--optimizer", saved.optimizer, config.optimizer),
        ("--normalize-obs", saved.normalize_obs, config.normalize_obs),
    ):
        if was != now:
            raise ConfigError(f"cannot resume: the checkpoint in {directory} has {flag} {was}, not {now}")
    if saved.episodes >= config.max_eps:
        raise ConfigError(
            f"cannot resume: the run already has {saved.episodes:,} episodes; give a --max-eps above that"
        )
    if config.max_steps is not None and saved.steps >= config.max_steps:
        raise ConfigError(
            f"cannot resume: the run already has {saved.steps:,} env steps; give a --max-steps above that"
        )
    episodes = [e for e in read_episodes_csv(files.episodes_csv) if e.episode <= saved.episodes]
    if [e.episode for e in episodes] != list(range(1, saved.episodes + 1)):
        raise ConfigError(
            f"cannot resume: {files.episodes_csv} has {len(episodes):,} of the checkpoint's {saved.episodes:,} episodes"
        )
    return episodes


class TrainingCheckpoints:
    """Saves and restores one env's training state in <save-dir>/checkpoints/<env-id>/."""

    def __init__(self, config: TrainConfig, info: EnvInfo, shared: GlobalModel, seed: int) -> None:
        self.config = config
        self.info = info
        self.shared = shared
        self.directory = checkpoint_dir(config.save_dir, config.env_id)
        self.state = RunState(
            config.env_id,
            config.hidden,
            math.prod(info.obs_shape),
            info.n_actions,
            seed,
            network=shared.model.spec.kind,
            layers=config.layers,
            activation=config.activation,
            optimizer=config.optimizer,
            normalize_obs=config.normalize_obs,
            env_kwargs=kwargs_text(info.env_kwargs),
            segment_seeds=[seed],
        )
        self._run_state = tf.Variable("", dtype=tf.string, trainable=False)
        self._checkpoint = tf.train.Checkpoint(
            model=shared.model, optimizer=shared.optimizer, run_state=self._run_state
        )
        self._manager: tf.train.CheckpointManager | None = None
        self.last_saved_updates = 0
        self._settings_written = False
        self.resumed_from: str | None = None
        """The checkpoint a resumed run continues."""
        self.skipped: list[str] = []
        """Newer checkpoints that did not read cleanly, each with why (a resumed run says so)."""

    @property
    def manager(self) -> tf.train.CheckpointManager:
        if self._manager is None:
            self._manager = tf.train.CheckpointManager(self._checkpoint, str(self.directory), CHECKPOINTS_KEPT)
        return self._manager

    def resume(self, files: RunFiles) -> tuple[RunState, list[EpisodeRecord]]:
        """Load the newest checkpoint that reads cleanly into the model and optimizer; return its state
        and episode log. `resumed_from` names it, and `skipped` says which newer ones did not read, and why.

        Refuses (ConfigError) when none reads, and a checkpoint of another env, network or optimizer,
        and a budget already spent.
        """
        candidates = saved_checkpoints(self.directory)
        if not candidates:
            others = sorted(p.name for p in self.directory.parent.glob("*") if saved_checkpoints(p))
            hint = f" (there are checkpoints for {', '.join(others)}: pass that --env)" if others else ""
            if files.existing():
                hint = f" (the rest of its run can be replaced with --train --overwrite){hint}"
            raise ConfigError(
                f"nothing to resume: no checkpoint for {self.config.env_id} in {self.config.save_dir}{hint}"
            )
        for path in candidates:
            try:
                saved = RunState.from_json(tf.train.load_variable(path, RUN_STATE_KEY).decode())
            except Exception as err:  # a damaged or foreign checkpoint: say which, not how TF failed
                self.skipped.append(f"{Path(path).name}: unreadable run state ({type(err).__name__})")
                continue
            episodes = resumable_episodes(saved, self.state, self.config, self.directory, files)
            with self.shared.lock:
                try:
                    self._checkpoint.restore(path).assert_existing_objects_matched()
                except Exception as err:  # truncated or foreign files: TF raises DataLossError, NotFoundError, ...
                    self.skipped.append(f"{Path(path).name}: {first_line(err)}")
                    continue
                # this invocation's --lr and schedule, not the saved rate
                self.shared.optimizer.learning_rate = learning_rate(self.config, saved.steps)
                self.shared.updates = saved.updates
                # numbered past every checkpoint on disk: a skipped one is never half-replaced by the next save
                self._checkpoint.save_counter.assign(checkpoint_number(candidates[0]))
            saved.segment_seeds = [*(saved.segment_seeds or [saved.seed]), self.state.seed]  # saved.seed: the run's
            saved.env_kwargs = self.state.env_kwargs
            self.state, self.resumed_from = saved, path
            self.last_saved_updates = saved.updates
            return saved, episodes
        raise ConfigError(f"cannot resume: no checkpoint in {self.directory} reads cleanly ({'; '.join(self.skipped)})")

    def apply(
        self,
        state: RunState,
        episodes: list[EpisodeRecord],
        ledger: EpisodeLedger,
        check: SolvedCheck,
        workers: WorkerGroup,
    ) -> None:
        """Continue the counters of a resumed run: episode log, steps, evaluations, RNGs."""
        ledger.restore(episodes, state.steps)
        check.restore(state)
        workers.restore_resume_states(state.worker_states)

    def save(self, ledger: EpisodeLedger, check: SolvedCheck, workers: WorkerGroup, seconds: float) -> str:
        """Rewrite episodes.csv, then checkpoint the model, optimizer and run state consistently with it."""
        episodes, steps = ledger.snapshot()
        write_episodes_csv(RunFiles(self.config.save_dir, self.config.env_id).episodes_csv, episodes)
        state = self.state = dataclasses.replace(
            self.state,
            episodes=len(episodes),
            steps=steps,
            seconds=seconds,
            worker_states=workers.resume_states(),
            **check.state(),
        )
        with self.shared.lock:  # no update lands half-way through the save
            state.updates = self.shared.updates
            self._run_state.assign(json.dumps(dataclasses.asdict(state)))
            path = self._save_or_clean_up()
        self.last_saved_updates = state.updates
        return path

    def _save_or_clean_up(self) -> str:
        """Write the next checkpoint; if that fails, remove what it left and raise `WriteFailed`.

        TensorFlow writes a checkpoint's files, then the `checkpoint` index naming it, so a failed
        save leaves the earlier checkpoints whole: only the new files (a part-written data file, a
        temporary folder) are removed, and `--resume` goes on from the newest complete one.
        """
        before = set(self.directory.iterdir()) if self.directory.is_dir() else set()
        try:
            if not self._settings_written:  # once a segment: what --resume goes on with
                self.directory.mkdir(parents=True, exist_ok=True)
                write_json(RunFiles(self.config.save_dir, self.config.env_id).settings, self.config.as_dict())
                self._settings_written = True
            return self.manager.save()
        except (tf.errors.OpError, OSError) as err:
            for leftover in set(self.directory.iterdir()) - before:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
            raise write_failure(self.directory / f"ckpt-{int(self._checkpoint.save_counter)}", err) from None

    def due(self) -> bool:
        """Whether `checkpoint_every` updates have passed since the last checkpoint."""
        return self.shared.updates - self.last_saved_updates >= self.config.checkpoint_every
