"""Tiny gymnasium envs whose every return is known before they are played, for end-to-end tests.

Each test registers the env it needs under its own id with `registered(...)` and removes it again,
so the global gymnasium registry is left as it was found.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from a3c_cartpole.evaluation.solved_check import EVAL_SEED_BASE


@contextlib.contextmanager
def registered(env_id: str, entry_point: Callable[..., gym.Env], **spec) -> Iterator[str]:
    """Register `entry_point` as `env_id` (with `spec`: reward_threshold, max_episode_steps) for a block."""
    gym.register(env_id, entry_point=entry_point, **spec)
    try:
        yield env_id
    finally:
        del gym.registry[env_id]


class OneStepScoredEnv(gym.Env):
    """Episodes of one step whose reward the test scripts: `script(n)` is the reward of the n-th reset
    (counting from 1, over every instance); `seeds` lists the seed of every reset, in order."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)
    script: ClassVar[Callable[[int], float]] = staticmethod(lambda n: 0.0)
    seeds: ClassVar[list] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        OneStepScoredEnv.seeds.append(seed)
        self._reward = float(OneStepScoredEnv.script(len(OneStepScoredEnv.seeds)))
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), self._reward, True, False, {}


class FallsLateEnv(gym.Env):
    """Pays 1 a step and terminates only at step FALLS_AT: a time limit below that is the only way an
    episode ends earlier, so episode lengths show whether the registered limit was kept."""

    FALLS_AT = 50
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        self._t += 1
        return self._obs(), 1.0, self._t >= self.FALLS_AT, False, {}

    def _obs(self) -> np.ndarray:
        return np.array([self._t / self.FALLS_AT, 0.0], np.float32)


class LitSideEnv(gym.Env):
    """An image task: one cell of a 5x5 grid is lit, and the right action is the side it is on (0: the
    left two columns, 1: the right two; the middle column is never lit). Reward 1 for the right side,
    0 otherwise, with a new cell every step. The observation is all there is to go on, so a policy that
    reads the image scores 1 a step (10 an episode under a 10-step limit), and one that cannot, 5."""

    observation_space = gym.spaces.Box(0, 1, (5, 5, 1), np.uint8)
    action_space = gym.spaces.Discrete(2)
    COLUMNS = (0, 1, 3, 4)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._light(), {}

    def step(self, action):
        reward = float(int(action) == int(self._column > 2))
        return self._light(), reward, False, False, {}

    def _light(self) -> np.ndarray:
        self._column = self.COLUMNS[self.np_random.integers(4)]
        grid = np.zeros((5, 5, 1), np.uint8)
        grid[self.np_random.integers(5), self._column, 0] = 1
        return grid


class LivesEnv(gym.Env):
    """A game of LIVES lives with an `ale.lives()` as ALE has: every step pays REWARD and every
    STEPS_PER_LIFE steps a life is lost; the game ends with the last one. A whole game therefore scores
    LIVES * STEPS_PER_LIFE * REWARD in LIVES * STEPS_PER_LIFE steps."""

    LIVES, STEPS_PER_LIFE, REWARD = 3, 4, 5.0
    observation_space = gym.spaces.Box(0, 255, (2, 6, 6), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.ale = self  # what the life-loss wrapper asks: env.unwrapped.ale.lives()

    def lives(self) -> int:
        return self.LIVES - self._t // self.STEPS_PER_LIFE

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return np.zeros((2, 6, 6), np.uint8), {}

    def step(self, action):
        self._t += 1
        return np.zeros((2, 6, 6), np.uint8), self.REWARD, self.lives() == 0, False, {}


def failing_check(request) -> None:
    """A solved check that raises as a broken env would. The evaluation process imports a task by name,
    and this module is light (a test module would load TensorFlow into it)."""
    raise ValueError("the env broke")


class BrittleCartPole(CartPoleEnv):
    """CartPole that raises RuntimeError("the pole snapped") at the `fail_at`-th step of an instance's
    life (over all its episodes). `fails_in` "training" or "evaluation" limits that to instances reset
    with a training seed, or with a solved check's (EVAL_SEED_BASE and above: training envs use the
    run's seed + 10,000 * k, --play the seeds from 0), so a test knows where the env will fail."""

    MESSAGE = "the pole snapped"

    def __init__(self, fail_at: int = 1000, fails_in: str = "anywhere", **kwargs) -> None:
        super().__init__(**kwargs)
        self.fail_at = fail_at
        self.fails_in = fails_in
        self.kind = "training"
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        if seed is not None:  # a vector env seeds each env once, then resets it with None
            self.kind = "evaluation" if seed >= EVAL_SEED_BASE else "training"
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.steps += 1
        if self.steps >= self.fail_at and self.fails_in in ("anywhere", self.kind):
            raise RuntimeError(self.MESSAGE)
        return super().step(action)
