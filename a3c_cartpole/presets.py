"""Tuned settings per env, shipped as data (presets.toml), and the one rule that resolves a run's settings.

A run's settings come from layers, in this order: TrainConfig's defaults, then the env's preset,
then -- with `--resume` -- the settings the run was trained with, then what the user gave (flags on
the command line, keywords to `train`). A user's value always wins, so a preset only fills in what
was left unsaid, and a resumed run goes on as it was trained unless told otherwise. The CLI, the
Python API and `--resume` all go through `resolve_config`, so they cannot disagree.

The file is TOML because the standard library reads it (tomllib) and a person can too: one table
per env id, holding only the values that differ from the defaults, as RL-Zoo's hyperparams files do.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from pathlib import Path

from a3c_cartpole.config import ConfigError, TrainConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport
    import tomli as tomllib

PRESETS_FILE = Path(__file__).with_name("presets.toml")
NO_PRESET = "none"
"""`--preset none`: train with TrainConfig's plain defaults."""

THIS_INVOCATION = frozenset({"env_id", "env_kwargs", "env_package", "save_dir", "seed", "verbose", "resume"})
"""Which env (its id, keyword arguments and package choose the preset, and a resumed run's must match its
checkpoint's), where to write, which seed (a resumed segment seeds its envs anew), what to do: each
invocation's own, never a preset's or a resumed run's."""

# What a preset may set: how to learn. It may pick the backend (a game's env steps are worth a process
# each), but not a cluster's address.
NOT_PRESETTABLE = THIS_INVOCATION | {"ray_address", "preset"}

# What a resumed run takes from the settings it was trained with, when not given again: all but these.
NOT_RESUMED = THIS_INVOCATION | {"overwrite", "stop_when_solved_again"}


@functools.cache
def load_presets(path: Path = PRESETS_FILE) -> dict[str, dict]:
    """Every preset in `path`, keyed by env id; a key that is no setting is refused, naming it."""
    with open(path, "rb") as handle:
        presets = tomllib.load(handle)
    settable = {field.name for field in dataclasses.fields(TrainConfig)} - NOT_PRESETTABLE
    for env_id, values in presets.items():
        unknown = sorted(set(values) - settable)
        if unknown:
            raise ValueError(f"{path}: preset {env_id!r} sets unknown options {', '.join(unknown)}")
    return presets


def preset_names() -> list[str]:
    """The env ids that ship with a preset."""
    return sorted(load_presets())


def choose_preset(env_id: str, preset: str | None) -> str | None:
    """The preset a run uses: None means the env's own (if it has one); "none" means no preset."""
    if preset is None:
        return env_id if env_id in load_presets() else None
    if preset == NO_PRESET:
        return None
    if preset not in load_presets():
        raise ConfigError(f"unknown preset {preset!r}: choose one of {', '.join(preset_names())}, or {NO_PRESET}")
    return preset


def resolve_config(given: dict, preset: str | None = None) -> TrainConfig:
    """Defaults, then the preset, then `given` (the user's own values): the settings of one run.

    `given` uses TrainConfig's field names and holds only what the user set; `preset` is a preset
    name, "none", or None for the env's own. The chosen preset's name is kept in the config.
    """
    env_id = given.get("env_id", TrainConfig.env_id)
    saved = resumed_settings(given) if given.get("resume") else {}
    saved_preset = saved.pop("preset", None)
    name = choose_preset(env_id, saved_preset if preset is None else preset)
    values = dict(load_presets()[name]) if name is not None else {}
    values.update(saved)
    if given.get("backend", "processes") != "processes" and "gradients" not in given:
        values.pop("gradients", None)  # a choice for worker processes, which the user left
    values.update(given)
    return TrainConfig(**values, preset=name)


def resumed_settings(given: dict) -> dict:
    """The settings the run in the save dir was trained with (`RunFiles.settings`), but `NOT_RESUMED`;
    none for a run checkpointed before they were kept, or not at all (`--resume` then says so)."""
    from a3c_cartpole.training.outputs import RunFiles

    path = RunFiles(Path(given.get("save_dir", TrainConfig.save_dir)), given.get("env_id", TrainConfig.env_id)).settings
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot resume: cannot read the run's settings {path}: {err}") from None
    fields = {field.name for field in dataclasses.fields(TrainConfig)} - NOT_RESUMED
    return {key: value for key, value in saved.items() if key in fields}
