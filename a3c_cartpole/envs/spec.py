"""What the agent needs to know of an env, and refusing the ones it cannot drive -- before TensorFlow loads.

This module must not import TensorFlow: the command line checks the env with it first, so that a
wrong env id is refused at once, not after TensorFlow's seconds of start-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FlattenObservation

from a3c_cartpole.config import ConfigError, first_line
from a3c_cartpole.envs.making import make
from a3c_cartpole.envs.registry import env_spec, import_env_package, kwargs_text, reason


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


def describe_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None, env_package: str | None = None) -> EnvInfo:
    """Check that the env exists, can be made, and fits a softmax policy over a flat or one-hot observation."""
    env_kwargs = dict(env_kwargs or {})
    import_env_package(env_package)
    spec = env_spec(env_id)
    try:
        env = make(env_id, env_kwargs)
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(f"environment {env_id!r} needs an extra package: {first_line(err)}") from None
    except Exception as err:  # the env's own constructor refused the keyword arguments (TypeError, KeyError, ...)
        given = f" with {kwargs_text(env_kwargs)}" if env_kwargs else ""
        raise ConfigError(f"cannot make {env_id}{given}: {reason(err)}") from None
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


def encode_observation(info: EnvInfo, observation) -> np.ndarray:
    """One observation as the network reads it, [1, obs_size] float32.

    Accepts what a plain `gymnasium.make` env returns (an index, for a Discrete observation) and
    what `make_env` returns (already one-hot), so a loaded policy acts the same in either loop.
    """
    space = info.observation_space
    if isinstance(space, gym.spaces.Discrete) and np.ndim(observation) == 0:
        observation = gym.spaces.flatten(space, observation)
    return np.asarray(observation, dtype=np.float32).reshape(1, -1)
