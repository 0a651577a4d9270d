"""Atari 2600 games (ale-py, which ships the ROMs) with the standard preprocessing from gymnasium's wrappers.

What the agent sees, in training and when judged alike: 84x84 grayscale frames, 4 frames skipped
per action (max-pooled over the last two), up to 30 no-ops at the start, the last 4 frames stacked
(an observation of 4x84x84 uint8). Two devices are for training only, as in the A3C paper, SB3's
AtariWrapper and CleanRL: rewards clipped to their sign, and the loss of a life ending the agent's
episode (the game goes on). Underneath them, gymnasium's RecordEpisodeStatistics keeps the real
game's score and length, and the rollouts log that: the CSV, the plot, the solved checks and --play
all report and judge whole games at their real score.
"""

from __future__ import annotations

import importlib

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, RecordEpisodeStatistics, TransformReward

FRAMES_PER_EPISODE = 108_000
"""ALE's own limit (30 minutes of play at 60 frames/s), given to gymnasium as the time limit."""

STACK = 4


def register() -> None:
    """Register the ALE/ ids (ale-py does so when imported and handed to gymnasium), once."""
    if "ALE/Pong-v5" in gym.registry:
        return
    ale_py = importlib.import_module("ale_py")
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner on the user's terminal per env made
    gym.register_envs(ale_py)
    importlib.import_module("cv2")  # AtariPreprocessing resizes with OpenCV: missing, say so now


class EndEpisodeOnLifeLoss(gym.Wrapper):
    """Training only: a lost life ends the agent's episode as a termination (nothing is worth anything
    after it), while the game itself goes on from where it was with a no-op."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        terminated = terminated or 0 < lives < self.lives
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.game_over = False
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


def wrap(env: gym.Env, training: bool) -> gym.Env:
    """The preprocessing every Atari env of this package gets; with `training`, the training devices too.

    An env observing ALE's RAM (obs_type="ram", a flat vector) has no frames to preprocess: it is left as it is.
    """
    if len(env.observation_space.shape) != 3:
        return env
    env = FrameStackObservation(AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84), STACK)
    return training_devices(env) if training else env


def training_devices(env: gym.Env) -> gym.Env:
    """Rewards clipped to their sign and a life's loss as an episode's end, over a record of whole games."""
    return TransformReward(EndEpisodeOnLifeLoss(RecordEpisodeStatistics(env)), np.sign)
