"""Saving trained weights, and loading them back as a policy (for --play and for Python users).

Next to the weights sits a small JSON run record naming the env and the network's size and
activation, so a weights file can be rebuilt into the right network and refused for the wrong env.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import numpy as np

from a3c_cartpole.config import ACTIVATIONS, ConfigError, first_line
from a3c_cartpole.envs import EnvInfo, describe_env
from a3c_cartpole.model import ActorCriticModel, NumpyActorCritic, build_model
from a3c_cartpole.outputs import RunFiles, atomic_path
from a3c_cartpole.save_dir import how_to_get_a_model

WEIGHTS_SUFFIX = ".weights.h5"


def save_weights(policy: NumpyActorCritic, info: EnvInfo, path: Path) -> None:
    """Write a numpy snapshot as a Keras weights file, atomically."""
    model = build_model(info.obs_size, info.n_actions, policy.hidden, policy.layers, policy.activation)
    model.load_snapshot(policy)
    with atomic_path(path) as tmp:
        model.save_weights(tmp)


def load_model(path: Path, info: EnvInfo, hidden: int, layers: int = 1, activation: str = "relu") -> ActorCriticModel:
    """Rebuild the network for `info` and load `path` into it; any mismatch is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no weights file at {path}")
    model = build_model(info.obs_size, info.n_actions, hidden, layers, activation)
    try:
        model.load_weights(path)
    except Exception as err:  # Keras raises ValueError, OSError or KeyError depending on the damage
        if "could not be loaded" in str(err):  # Keras's words for layers whose shapes differ
            reason = "its layer shapes differ (saved for another env, --hidden or --layers?)"
        else:
            reason = first_line(err)
        raise ConfigError(
            f"cannot load {path} as the {info.env_id} network ({info.obs_size} inputs, {info.n_actions} actions, "
            f"{layers} x {hidden} hidden units): {reason}"
        ) from None
    return model


class GreedyPolicy:
    """Maps one observation to the action the trained policy rates highest."""

    def __init__(self, network: NumpyActorCritic, env_id: str) -> None:
        self.network = network
        self.env_id = env_id

    def __call__(self, observation: np.ndarray) -> int:
        obs = np.asarray(observation, dtype=np.float32).reshape(1, -1)
        return int(self.network.greedy(obs)[0])


def _read_record(record: Path) -> dict:
    try:
        saved = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"unreadable run record {record}: {err}") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"unreadable run record {record}: not a JSON object")
    return saved


class SavedRun(typing.NamedTuple):
    """A weights file and what it takes to rebuild its network."""

    weights: Path
    env_id: str
    hidden: int = 100
    layers: int = 1
    activation: str = "relu"


def _find_run(path: Path, env_id: str | None) -> SavedRun:
    """Resolve a save dir or weights file to the weights and the network they belong to.

    Without a run record (a weights file copied on its own) the network is the default one. A save
    dir without one names the env whose run left a checkpoint (a run stopped before writing weights).
    """
    untrained = f"no trained model in {path}: train one first with 'a3c-cartpole --train --save-dir {path}'"
    if path.is_dir():
        if env_id is None:
            records = sorted(path.glob("*_run.json"))
            found = [r.name.removesuffix("_run.json") for r in records]
            found = found or sorted(p.parent.name for p in path.glob("checkpoints/*/checkpoint"))
            if not found:
                raise ConfigError(untrained)
            if len(found) > 1:
                raise ConfigError(f"{path} holds runs for {', '.join(found)}; name the env (env_id / --env)")
            env_id = _read_record(records[0]).get("env_id") if records else found[0]
            if not isinstance(env_id, str):
                raise ConfigError(f"{records[0]} names no env; name it (env_id / --env)")
        files = RunFiles(path, env_id)
        weights = files.best_weights if files.best_weights.is_file() else files.final_weights
        if not weights.is_file():
            raise ConfigError(f"no trained model for {env_id} in {path}: {how_to_get_a_model(files)}")
    elif path.name.endswith(WEIGHTS_SUFFIX):
        weights = path
        if env_id is None:
            env_id = path.name.removesuffix(WEIGHTS_SUFFIX).rsplit("_", 1)[0]
    elif not path.exists():
        raise ConfigError(untrained)
    else:
        raise ConfigError(f"{path} is neither a save dir nor a '*{WEIGHTS_SUFFIX}' file")
    record = RunFiles(weights.parent, env_id).run_record
    run = SavedRun(weights, env_id)
    if not record.is_file():
        return run
    saved = _read_record(record)
    if saved.get("env_id") != env_id:
        raise ConfigError(f"{weights} was trained on {saved.get('env_id')}, not {env_id}")
    activation = saved.get("activation", run.activation)
    if activation not in ACTIVATIONS:
        raise ConfigError(f"{record} names an unknown activation {activation!r}")
    return run._replace(
        hidden=int(saved.get("hidden", run.hidden)), layers=int(saved.get("layers", run.layers)), activation=activation
    )


def load_policy(path: str | Path, env_id: str | None = None) -> GreedyPolicy:
    """A greedy policy from a save dir (or a weights file) written by training.

    >>> policy = load_policy("a3c_runs")          # doctest: +SKIP
    >>> action = policy(env.reset(seed=0)[0])      # doctest: +SKIP
    """
    run = _find_run(Path(path), env_id)
    info = describe_env(run.env_id)
    model = load_model(run.weights, info, run.hidden, run.layers, run.activation)
    return GreedyPolicy(model.snapshot(), run.env_id)
