"""The baseline every learning curve is read against: uniformly random actions."""

from __future__ import annotations

import numpy as np

from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.evaluation.episodes import run_episodes


class RandomAgent:
    """Plays episodes with actions drawn uniformly at random (about 22 on CartPole)."""

    def __init__(self, info: EnvInfo, episodes: int, seed: int = 0) -> None:
        self.info = info
        self.episodes = episodes
        self.seed = seed

    def run(self) -> np.ndarray:
        """Returns of every episode played."""
        rng = np.random.default_rng(self.seed)
        n_actions = self.info.n_actions
        return run_episodes(self.info, self.episodes, lambda obs: rng.integers(0, n_actions, size=len(obs)), self.seed)
