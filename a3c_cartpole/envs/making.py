"""Making environments: one env, or a worker's vector env, from the id and the user's keyword arguments.

Every env of a run -- the workers' vector envs, the solved check's, --play's, the random
baseline's -- is made by `make`, so the arguments cannot be left out anywhere. A Discrete
observation (FrozenLake, Taxi, CliffWalking) is one-hot encoded there, by gymnasium's own
FlattenObservation, as SB3 encodes it.

`make_env` and `make_vector_env`, which every player of an env goes through, turn whatever the env
raises in `reset` or `step` into `EnvFailed`, which names the env and keeps its error's text and
traceback as text: it reaches the training process intact from a worker thread, a rollout or
evaluation process or a Ray actor, and the run reports it in a line and saves what it learned.

Gymnasium 1.x vector envs reset a finished env on the *next* step (that step returns the reset
observation with reward 0), so callers mask that step out; the observation returned when an
episode ends is its true final state, which is what a truncated episode bootstraps from.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import FlattenObservation
from gymnasium.wrappers import vector as vector_wrappers

from a3c_cartpole.config import WorkerFailed
from a3c_cartpole.envs.games import family_of
from a3c_cartpole.envs.registry import env_spec, import_env_package

if TYPE_CHECKING:
    from a3c_cartpole.envs.spec import EnvInfo


class EnvFailed(WorkerFailed):
    """The env raised in `reset` or `step`: a user's env can, and it is the env's fault, not the run's.

    Where nothing says more (the random baseline), the command still reports it in one line, exit code 1."""

    def __init__(self, env_id: str, error: str, traceback_text: str) -> None:
        """`error`: the env's exception as "Type: first line"; `traceback_text`: its traceback, formatted
        where it was raised (only text, so it survives pickling, which drops traceback objects)."""
        super().__init__(env_id, error, traceback_text)
        self.env_id = env_id
        self.error = error
        self.traceback_text = traceback_text

    def __str__(self) -> str:
        return f"{self.env_id} raised {self.error}"

    @classmethod
    def of(cls, env_id: str, err: Exception) -> EnvFailed:
        text = str(err).strip()
        error = type(err).__name__ + (f": {text.splitlines()[0]}" if text else "")
        return cls(env_id, error, "".join(traceback.format_exception(err)))


class _Guarded:
    """`reset` and `step` of the wrapped env, with its exceptions turned into `EnvFailed`."""

    env_id: str

    def reset(self, **kwargs):
        try:
            return super().reset(**kwargs)
        except Exception as err:
            raise EnvFailed.of(self.env_id, err) from err

    def step(self, action):
        try:
            return super().step(action)
        except Exception as err:
            raise EnvFailed.of(self.env_id, err) from err


class GuardedEnv(_Guarded, gym.Wrapper):
    def __init__(self, env: gym.Env, env_id: str) -> None:
        super().__init__(env)
        self.env_id = env_id


class GuardedVectorEnv(_Guarded, gym.vector.VectorWrapper):
    def __init__(self, envs: gym.vector.VectorEnv, env_id: str) -> None:
        super().__init__(envs)
        self.env_id = env_id


def make(env_id: str, env_kwargs: Mapping[str, Any], num_envs: int | None = None, training: bool = False, **options):
    """The one place an env is made: a single env, or a vector env of `num_envs`, one-hot if observed by index.

    `options` (e.g. render_mode) come from this package and win over the user's keyword arguments.
    With keyword arguments, each env of a vector env is made by gymnasium.make as a single env is.
    A game (games.py) gets its family's options, time limit and wrappers; `training` adds the
    wrappers that are for training only (Atari's clipped rewards and loss of a life).
    """
    kwargs = {**env_kwargs, **options}
    wrappers = []
    family = family_of(env_id)
    if family is not None:
        kwargs = {**family.make_options, **kwargs}
        if env_spec(env_id).max_episode_steps is None:
            kwargs.setdefault("max_episode_steps", family.time_limit)
        if family.wrap is not None:
            wrappers.append(functools.partial(family.wrap, training=training))
    if num_envs is None:
        env = gym.make(env_id, **kwargs)
        for wrapper in wrappers:
            env = wrapper(env)
        return FlattenObservation(env) if isinstance(env.observation_space, gym.spaces.Discrete) else env
    native = has_native_vector_env(env_id, env_kwargs)
    mode = gym.VectorizeMode.VECTOR_ENTRY_POINT if native else gym.VectorizeMode.SYNC
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, wrappers=wrappers or None, **kwargs)
    if isinstance(envs.single_observation_space, gym.spaces.Discrete):
        return vector_wrappers.FlattenObservation(envs)
    return envs


def has_native_vector_env(env_id: str, env_kwargs: Mapping[str, Any]) -> bool:
    """Is the env's own vector version (CartPole's) used? Only without keyword arguments: it may take
    other arguments than the single env, or none; never for a game, whose wrappers go on each env."""
    return not env_kwargs and family_of(env_id) is None and env_spec(env_id).vector_entry_point is not None


def steps_all_at_once(info: EnvInfo) -> bool:
    """Does one step of its vector env step every env in one array operation? Then a step of 200 envs
    costs about what a step of 20 does."""
    return has_native_vector_env(info.env_id, info.env_kwargs)


def make_env(info: EnvInfo, **options) -> gym.Env:
    """One env as described by `info` (its keyword arguments, one-hot if need be); `options` e.g. render_mode."""
    import_env_package(info.env_package)
    return GuardedEnv(make(info.env_id, info.env_kwargs, **options), info.env_id)


def make_vector_env(
    info: EnvInfo, num_envs: int, seed: int | None, training: bool = False
) -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """A vector env keeping the env's time limit, already reset; returns it and the first observations
    (in the dtype the network reads: float32, or uint8 for images).

    Envs with a native vectorised implementation (CartPole) use it; others are stepped in one process.
    `training`: the workers' envs, with a game's training-only wrappers. The package is imported here
    too: a Ray worker is a process of its own.
    """
    import_env_package(info.env_package)
    envs = GuardedVectorEnv(make(info.env_id, info.env_kwargs, num_envs=num_envs, training=training), info.env_id)
    obs, _ = envs.reset(seed=seed)
    return envs, np.asarray(obs, dtype=info.obs_dtype)
