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
    obs_shape: tuple[int, ...]
    """What the network reads: (length,) of a flat or one-hot observation, or an image's (H, W, C) or (C, H, W)."""
    n_actions: int
    reward_threshold: float | None
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    """Keyword arguments of gymnasium.make (e.g. map_name="8x8"): part of what the env is."""
    env_package: str | None = None
    """A module to import before making the env, because importing it registers the env."""
    observation_space: gym.Space | None = None
    """The env's own observation space (before one-hot encoding); None: observations are already flat."""
    obs_dtype: str = "float32"
    """How observations are kept until the network reads them: images stay uint8 (a quarter of the bytes)."""
    pixels: bool = False
    """The observation is 8-bit pixels (0-255), which the network reads scaled to [0, 1]."""

    def judged_at(self, target_score: float | None) -> EnvInfo:
        """The env as one run judges it: its --target-score, where it set one, is the solved threshold
        everywhere the threshold is read (training's checks, and --play of its saved agent)."""
        return self if target_score is None else dataclasses.replace(self, reward_threshold=float(target_score))


def describe_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None, env_package: str | None = None) -> EnvInfo:
    """Check that the env exists, can be made, and fits a softmax policy over a flat, one-hot or image observation."""
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
    obs_shape, obs_dtype, pixels = _observation(env_id, obs_space)
    if time_limit is None:
        raise ConfigError(
            f"{env_id} has no time limit, so an agent that never reaches the end would play one episode forever: "
            "give one with --env-kwargs max_episode_steps=N"
        )
    return EnvInfo(
        env_id=env_id,
        obs_shape=obs_shape,
        n_actions=int(act_space.n),
        reward_threshold=spec.reward_threshold,
        env_kwargs=env_kwargs,
        env_package=env_package,
        observation_space=obs_space,
        obs_dtype=obs_dtype,
        pixels=pixels,
    )


def _observation(env_id: str, space: gym.Space) -> tuple[tuple[int, ...], str, bool]:
    """The shape and dtype the network reads, and whether they are 8-bit pixels; refuses what it cannot read.

    A Discrete observation is one-hot, a rank-1 Box flat; a rank-3 Box is an image (height, width,
    channels, or a frame stack's channels first). Images of bools or bytes stay uint8 until the network.
    """
    if isinstance(space, gym.spaces.Discrete):
        return (int(space.n),), "float32", False
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return tuple(space.shape), "float32", False
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 3:
        compact = space.dtype in (np.bool_, np.uint8)
        pixels = space.dtype == np.uint8 and float(np.max(space.high)) > 1
        return tuple(int(n) for n in space.shape), "uint8" if compact else "float32", pixels
    raise ConfigError(f"{env_id} needs a flat Box, a Discrete or an image (rank-3 Box) observation, it has {space}")


def encode_observation(info: EnvInfo, observation) -> np.ndarray:
    """One observation as the network reads it: a batch of one, [1, *obs_shape].

    Accepts what a plain `gymnasium.make` env returns (an index, for a Discrete observation) and
    what `make_env` returns (already one-hot), so a loaded policy acts the same in either loop.
    """
    space = info.observation_space
    if isinstance(space, gym.spaces.Discrete) and np.ndim(observation) == 0:
        observation = gym.spaces.flatten(space, observation)
    return np.asarray(observation, dtype=info.obs_dtype).reshape(1, *info.obs_shape)
