"""Making environments, and refusing the ones this agent cannot drive.

Training, evaluation and the random baseline all step gymnasium vector envs: one call advances
many episodes, which is where the speed comes from. Gymnasium 1.x vector envs reset a finished
env on the *next* step (that step returns the reset observation with reward 0), so callers mask
that step out; the observation returned when an episode ends is its true final state, which is
what a truncated episode bootstraps from.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

from a3c_cartpole.config import ConfigError


@dataclasses.dataclass(frozen=True)
class EnvInfo:
    """What the model and the solved check need to know about an env."""

    env_id: str
    obs_size: int
    n_actions: int
    reward_threshold: float | None


def describe_env(env_id: str) -> EnvInfo:
    """Check that env_id exists and fits a softmax policy over a flat observation."""
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as err:
        raise ConfigError(f"unknown environment {env_id!r}: {err}") from None
    try:
        env = gym.make(spec)
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(f"environment {env_id!r} needs an extra package: {err}") from None
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    if not isinstance(act_space, gym.spaces.Discrete):
        raise ConfigError(f"{env_id} has a {type(act_space).__name__} action space; A3C here needs a Discrete one")
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ConfigError(f"{env_id} needs a flat Box observation, it has {obs_space}")
    return EnvInfo(
        env_id=env_id,
        obs_size=int(obs_space.shape[0]),
        n_actions=int(act_space.n),
        reward_threshold=spec.reward_threshold,
    )


def make_vector_env(env_id: str, num_envs: int, seed: int | None) -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """A vector env keeping the env's time limit, already reset; returns it and the first observations.

    Envs with a native vectorised implementation (CartPole) use it; others are stepped in one process.
    """
    envs = gym.make_vec(env_id, num_envs=num_envs)
    obs, _ = envs.reset(seed=seed)
    return envs, np.asarray(obs, dtype=np.float32)
