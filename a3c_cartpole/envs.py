"""Making environments, and refusing the ones this agent cannot drive -- before TensorFlow loads.

Every env of a run -- the workers' vector envs, the solved check's, --play's, the random
baseline's -- is made by `_make`, from the env id and the user's keyword arguments, so the
arguments cannot be left out anywhere. A Discrete observation (FrozenLake, Taxi, CliffWalking) is
one-hot encoded there, by gymnasium's own FlattenObservation, as SB3 encodes it: the network reads
a flat float vector, whatever the env.

Gymnasium 1.x vector envs reset a finished env on the *next* step (that step returns the reset
observation with reward 0), so callers mask that step out; the observation returned when an
episode ends is its true final state, which is what a truncated episode bootstraps from.

This module must not import TensorFlow: the command line checks the env with it first, so that a
wrong env id is refused at once, not after TensorFlow's seconds of start-up.
"""

from __future__ import annotations

import dataclasses
import importlib
import pickle
import re
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FlattenObservation
from gymnasium.wrappers import vector as vector_wrappers

from a3c_cartpole.config import ConfigError, first_line

NAMESPACE_PACKAGES = {"ALE": ("ale-py", "ale_py")}
"""Env namespaces of well-known packages: what to pip install, and the module that registers them."""


@dataclasses.dataclass(frozen=True)
class EnvInfo:
    """An env this agent can drive: what the model and the solved check need, and how to make it again."""

    env_id: str
    obs_size: int
    """Inputs of the network: the length of the flat (or one-hot) observation."""
    n_actions: int
    reward_threshold: float | None
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    """Keyword arguments of gymnasium.make (e.g. map_name="8x8"): part of what the env is."""
    env_package: str | None = None
    """A module to import before making the env, because importing it registers the env."""
    observation_space: gym.Space | None = None
    """The env's own observation space (before one-hot encoding); None: observations are already flat."""


def import_env_package(module: str | None) -> None:
    """Import the module that registers the user's envs (`--env-package`); importing twice costs nothing."""
    if module is None:
        return
    try:
        importlib.import_module(module)
    except Exception as err:  # not installed, or broken: either way the user's input, told in one line
        raise ConfigError(f"cannot import --env-package {module}: {_reason(err)}") from None


def _spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of `env_id` ("module:Env-v0" imports module first), or gymnasium's reason, told plainly."""
    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except Exception as err:
            raise ConfigError(f"cannot import {module!r} for {env_id}: {_reason(err)}") from None
    try:
        return gym.spec(name)
    except gym.error.DeprecatedEnv as err:
        newer = re.search(r"use `([^`]+)`", str(err))
        hint = f"use {newer.group(1)}" if newer else str(err)
        raise ConfigError(f"{name} is out of date in gymnasium {gym.__version__}: {hint}") from None
    except gym.error.NamespaceNotFound:
        namespace = name.split("/")[0]
        pip_name, module_name = NAMESPACE_PACKAGES.get(namespace, (None, None))
        if pip_name is None:
            hint = "install the package that registers it, and name its module with --env-package MODULE"
        else:
            hint = f"pip install {pip_name}, then add --env-package {module_name}"
        raise ConfigError(f"no env namespace {namespace!r} for {name}: {hint}") from None
    except gym.error.Error as err:
        plain = not module and "/" not in name  # a bare id: perhaps a user's env whose module was not named
        hint = f" (your own env? --env MODULE:{name}, or --env-package MODULE)" if plain else ""
        raise ConfigError(f"unknown environment {env_id!r}: {err}{hint}") from None


def _make(env_id: str, env_kwargs: Mapping[str, Any], num_envs: int | None = None, **options):
    """The one place an env is made: a single env, or a vector env of `num_envs`, one-hot if observed by index.

    `options` (e.g. render_mode) come from this package and win over the user's keyword arguments.
    With keyword arguments, each env of a vector env is made by gymnasium.make as a single env is.
    """
    kwargs = {**env_kwargs, **options}
    if num_envs is None:
        env = gym.make(env_id, **kwargs)
        return FlattenObservation(env) if isinstance(env.observation_space, gym.spaces.Discrete) else env
    native = _has_native_vector_env(env_id, env_kwargs)
    mode = gym.VectorizeMode.VECTOR_ENTRY_POINT if native else gym.VectorizeMode.SYNC
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    if isinstance(envs.single_observation_space, gym.spaces.Discrete):
        return vector_wrappers.FlattenObservation(envs)
    return envs


def _has_native_vector_env(env_id: str, env_kwargs: Mapping[str, Any]) -> bool:
    """Is the env's own vector version (CartPole's) used? Only without keyword arguments: it may take
    other arguments than the single env, or none."""
    return not env_kwargs and _spec(env_id).vector_entry_point is not None


def steps_all_at_once(info: EnvInfo) -> bool:
    """Does one step of its vector env step every env in one array operation? Then a step of 200 envs
    costs about what a step of 20 does."""
    return _has_native_vector_env(info.env_id, info.env_kwargs)


def describe_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None, env_package: str | None = None) -> EnvInfo:
    """Check that the env exists, can be made, and fits a softmax policy over a flat or one-hot observation."""
    env_kwargs = dict(env_kwargs or {})
    import_env_package(env_package)
    spec = _spec(env_id)
    try:
        env = _make(env_id, env_kwargs)
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(f"environment {env_id!r} needs an extra package: {first_line(err)}") from None
    except Exception as err:  # the env's own constructor refused the keyword arguments (TypeError, KeyError, ...)
        given = f" with {kwargs_text(env_kwargs)}" if env_kwargs else ""
        raise ConfigError(f"cannot make {env_id}{given}: {_reason(err)}") from None
    try:
        obs_space = env.env.observation_space if isinstance(env, FlattenObservation) else env.observation_space
        act_space = env.action_space
        time_limit = env.spec.max_episode_steps if env.spec is not None else None
    finally:
        env.close()
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ConfigError(f"{env_id} has a {type(act_space).__name__} action space; A3C here needs a Discrete one")
    if isinstance(obs_space, gym.spaces.Discrete):
        obs_size = int(obs_space.n)
    elif isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1:
        obs_size = int(obs_space.shape[0])
    else:
        raise ConfigError(f"{env_id} needs a flat Box or a Discrete observation, it has {obs_space}")
    if time_limit is None:
        raise ConfigError(
            f"{env_id} has no time limit, so an agent that never reaches the end would play one episode forever: "
            "give one with --env-kwargs max_episode_steps=N"
        )
    return EnvInfo(
        env_id=env_id,
        obs_size=obs_size,
        n_actions=int(act_space.n),
        reward_threshold=spec.reward_threshold,
        env_kwargs=env_kwargs,
        env_package=env_package,
        observation_space=obs_space,
    )


def _reason(err: Exception) -> str:
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
    spec = _spec(info.env_id)
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
        _spec(info.env_id)  # also imports the module an id "module:Env-v0" names
    except ConfigError:
        gym.registry[spec.id] = spec


def make_env(info: EnvInfo, **options) -> gym.Env:
    """One env as described by `info` (its keyword arguments, one-hot if need be); `options` e.g. render_mode."""
    import_env_package(info.env_package)
    return _make(info.env_id, info.env_kwargs, **options)


def make_vector_env(info: EnvInfo, num_envs: int, seed: int | None) -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """A vector env keeping the env's time limit, already reset; returns it and the first observations.

    Envs with a native vectorised implementation (CartPole) use it; others are stepped in one process.
    The package is imported here too: a Ray worker is a process of its own.
    """
    import_env_package(info.env_package)
    envs = _make(info.env_id, info.env_kwargs, num_envs=num_envs)
    obs, _ = envs.reset(seed=seed)
    return envs, np.asarray(obs, dtype=np.float32)


def encode_observation(info: EnvInfo, observation) -> np.ndarray:
    """One observation as the network reads it, [1, obs_size] float32.

    Accepts what a plain `gymnasium.make` env returns (an index, for a Discrete observation) and
    what `make_env` returns (already one-hot), so a loaded policy acts the same in either loop.
    """
    space = info.observation_space
    if isinstance(space, gym.spaces.Discrete) and np.ndim(observation) == 0:
        observation = gym.spaces.flatten(space, observation)
    return np.asarray(observation, dtype=np.float32).reshape(1, -1)
