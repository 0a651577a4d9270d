"""Finding a trained run on disk, and what it takes to rebuild its network and its env.

Next to the weights sits a small JSON run record naming the env (id, keyword arguments, package)
and the network's size and activation, so a weights file can be rebuilt into the right network
for the right env, and refused for the wrong one. None of this needs TensorFlow: --play finds the
run and checks its env first, and refuses a missing model or a bad env at once.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

from a3c_cartpole.config import ACTIVATIONS, ConfigError, TrainConfig
from a3c_cartpole.envs.registry import env_spec, import_env_package
from a3c_cartpole.envs.spec import EnvInfo, describe_env
from a3c_cartpole.networks.spec import NetworkSpec, choose_network, observation_words
from a3c_cartpole.training.outputs import RunFiles, env_id_from_file_name
from a3c_cartpole.training.save_dir import how_to_get_a_model

WEIGHTS_SUFFIX = ".weights.h5"


class SavedRun(typing.NamedTuple):
    """A weights file, the env it was trained on, the shape of its network, and what solved it."""

    weights: Path
    info: EnvInfo
    """The env, with the run's solved threshold: its --target-score (Taxi's preset solves at 7.5), else the env's."""
    network: NetworkSpec
    eval_episodes: int
    """How many greedy episodes its solved check averaged: fewer make no verdict when played back."""


def _read_record(record: Path) -> dict:
    try:
        saved = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"unreadable run record {record}: {err}") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"unreadable run record {record}: not a JSON object")
    return saved


def _weights_in_dir(
    path: Path, env_id: str | None, env_kwargs: dict | None, env_package: str | None
) -> tuple[Path, str]:
    """The best (else the final) weights of the run in save dir `path`, and its env id.

    A save dir without a run record names the env whose run left a checkpoint (a run stopped before
    writing weights), so the hint can say to resume it rather than to start over.
    """
    if env_id is None:
        records = sorted(path.glob("*_run.json"))
        found = [env_id_from_file_name(r.name.removesuffix("_run.json")) for r in records]
        found = found or sorted(env_id_from_file_name(p.parent.name) for p in path.glob("checkpoints/*/checkpoint"))
        if not found:
            raise _nothing_to_play(path, None, env_kwargs, env_package)
        if len(found) > 1:
            raise ConfigError(f"{path} holds runs for {', '.join(found)}; name the env (env_id / --env)")
        env_id = _read_record(records[0]).get("env_id") if records else found[0]
        if not isinstance(env_id, str):
            raise ConfigError(f"{records[0]} names no env; name it (env_id / --env)")
    files = RunFiles(path, env_id)
    weights = files.best_weights if files.best_weights.is_file() else files.final_weights
    if not weights.is_file():
        raise _nothing_to_play(path, env_id, env_kwargs, env_package)
    return weights, env_id


def _nothing_to_play(path: Path, env_id: str | None, env_kwargs: dict | None, env_package: str | None) -> ConfigError:
    """No weights in `path`: the error ends with the command that trains them. An env id gymnasium does
    not know (a misspelling, say) is the error instead: that command would only fail on it."""
    if env_id is not None:
        import_env_package(env_package)
        env_spec(env_id)
    what = "no trained model" if env_id is None else f"no trained model for {env_id}"
    return ConfigError(f"{what} in {path}: {how_to_get_a_model(path, env_id, env_kwargs, env_package)}")


def find_run(
    path: Path, env_id: str | None = None, env_kwargs: dict | None = None, env_package: str | None = None
) -> SavedRun:
    """Resolve a save dir or a weights file to the weights, the env and the network they belong to.

    The env is the one of the run record: its id, its keyword arguments updated by `env_kwargs`
    (the user's win), its package unless `env_package` names another. Without a record (a weights
    file copied on its own) the network is the default one and the env takes only what is given.
    """
    path = Path(path)
    if path.is_dir():
        weights, env_id = _weights_in_dir(path, env_id, env_kwargs, env_package)
    elif path.name.endswith(WEIGHTS_SUFFIX):
        weights = path
    elif not path.exists():
        raise _nothing_to_play(path, env_id, env_kwargs, env_package)
    else:
        raise ConfigError(f"{path} is neither a save dir nor a '*{WEIGHTS_SUFFIX}' file")
    # A weights file is named <env>_best or <env>_final; its record is <env>_run.json beside it.
    named = env_id or weights.name.removesuffix(WEIGHTS_SUFFIX).rsplit("_", 1)[0]
    record = RunFiles(weights.parent, named).run_record
    saved = _read_record(record) if record.is_file() else {}
    if env_id is None:  # the file name holds the id only up to "/" -> "_": the record has it whole
        env_id = saved.get("env_id", env_id_from_file_name(named))
    elif saved and saved.get("env_id") != env_id:
        raise ConfigError(f"{weights} was trained on {saved.get('env_id')}, not {env_id}")
    info = describe_env(
        env_id, {**(saved.get("env_kwargs") or {}), **(env_kwargs or {})}, env_package or saved.get("env_package")
    )
    network = _network(saved, record, info)
    if network.obs_shape != info.obs_shape:  # e.g. other --env-kwargs: FrozenLake's 4x4 map, not its 8x8
        raise ConfigError(
            f"cannot load {weights} for {env_id}: its network reads {observation_words(network.obs_shape)}, "
            f"the env gives {observation_words(info.obs_shape)}"
        )
    config = saved.get("config") if isinstance(saved.get("config"), dict) else {}
    info = info.judged_at(config.get("target_score"))
    return SavedRun(weights, info, network, int(config.get("eval_episodes") or TrainConfig.eval_episodes))


def _network(saved: dict, record: Path, info: EnvInfo) -> NetworkSpec:
    """The network the run record describes; a record written before conv nets existed (or none at all,
    for a weights file on its own) describes an MLP by its settings, or implies the defaults."""
    if isinstance(saved.get("network"), dict):
        try:
            return NetworkSpec.from_record(saved["network"])
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(f"{record} describes no network this version can build: {err!r}") from None
    activation = saved.get("activation", "relu")
    if activation not in ACTIVATIONS:
        raise ConfigError(f"{record} names an unknown activation {activation!r}")
    return choose_network(
        "auto",
        info.obs_shape,
        info.n_actions,
        hidden=int(saved.get("hidden", 100)),
        layers=int(saved.get("layers", 1)),
        activation=activation,
        normalize_obs=bool(saved.get("normalize_obs", False)),
        pixels=info.pixels,
        obs_dtype=info.obs_dtype,
    )
