"""Finding an env's registration: by id, by the package that registers it, and again in a child process.

This module must not import TensorFlow: the command line checks the env with it first, so that a
wrong env id is refused at once, not after TensorFlow's seconds of start-up.
"""

from __future__ import annotations

import importlib
import pickle
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from a3c_cartpole.config import ConfigError, first_line
from a3c_cartpole.envs.games import ensure_registered

if TYPE_CHECKING:
    from a3c_cartpole.envs.spec import EnvInfo


def import_env_package(module: str | None) -> None:
    """Import the module that registers the user's envs (`--env-package`); importing twice costs nothing."""
    if module is None:
        return
    try:
        importlib.import_module(module)
    except Exception as err:  # not installed, or broken: either way the user's input, told in one line
        raise ConfigError(f"cannot import --env-package {module}: {reason(err)}") from None


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of `env_id` ("module:Env-v0" imports module first), or gymnasium's reason, told plainly."""
    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except Exception as err:
            raise ConfigError(f"cannot import {module!r} for {env_id}: {reason(err)}") from None
    ensure_registered(name)
    try:
        return gym.spec(name)
    except gym.error.DeprecatedEnv as err:
        newer = re.search(r"use `([^`]+)`", str(err))
        hint = f"use {newer.group(1)}" if newer else str(err)
        raise ConfigError(f"{name} is out of date in gymnasium {gym.__version__}: {hint}") from None
    except gym.error.NamespaceNotFound:
        namespace = name.split("/")[0]
        hint = "install the package that registers it, and name its module with --env-package MODULE"
        raise ConfigError(f"no env namespace {namespace!r} for {name}: {hint}") from None
    except gym.error.Error as err:
        plain = not module and "/" not in name  # a bare id: perhaps a user's env whose module was not named
        hint = f" (your own env? --env MODULE:{name}, or --env-package MODULE)" if plain else ""
        raise ConfigError(f"unknown environment {env_id!r}: {err}{hint}") from None


def reason(err: Exception) -> str:
    """A failure in one line, with its type where the message alone would be cryptic (a KeyError's is the key)."""
    plain = (ImportError, TypeError, ValueError)
    return first_line(err) if isinstance(err, plain) else f"{type(err).__name__}: {first_line(err)}"


def kwargs_text(env_kwargs: Mapping[str, Any]) -> str:
    """The keyword arguments as the user typed them: key=value ...; "none" if there are none."""
    if not env_kwargs:
        return "none"
    return " ".join(f"{key}={value}" for key, value in env_kwargs.items())


def registration_for_a_child(info: EnvInfo) -> gym.envs.registration.EnvSpec | None:
    """The env's registration, for a child process to repeat; None if no other process can: an env class
    or factory defined in `__main__` (a script, a notebook), inside a function or as a lambda exists
    here only (pickle would send it by a name no other process can import, or not at all)."""
    spec = env_spec(info.env_id)
    entry = spec.entry_point
    if isinstance(entry, str):
        return None if entry.startswith("__main__:") else spec
    module = getattr(entry, "__module__", None)
    if module in (None, "__main__") or "<" in getattr(entry, "__qualname__", "<"):  # <locals>, <lambda>
        return None
    try:
        pickle.dumps(spec)
    except Exception:  # e.g. keyword arguments in the spec that cannot be pickled
        return None
    return spec


def register_as_the_parent_did(info: EnvInfo, spec: gym.envs.registration.EnvSpec) -> None:
    """In a child process: know the env as the parent does. Importing its module registers most envs;
    one that a user's code registered at run time is registered here from the parent's `spec`."""
    import_env_package(info.env_package)
    try:
        env_spec(info.env_id)  # also imports the module an id "module:Env-v0" names
    except ConfigError:
        gym.registry[spec.id] = spec
