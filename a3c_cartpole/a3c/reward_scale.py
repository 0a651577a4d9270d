"""--normalize-reward: the rewards a worker learns from, divided by the running std of its discounted return.

An env paying -1 a step and one paying +-100 for a landing then give the critic targets of a
similar size, so one learning rate and one gradient clip serve both (RL-Zoo's A2C trains
MountainCar, Acrobot and LunarLander so, with SB3's VecNormalize). The episode log, the plots and
every solved check see the env's own rewards: only the learning targets are scaled.

This follows VecNormalize rather than gymnasium's NormalizeReward wrapper, for two reasons: the
return starts again at every episode end, a time limit's too (the wrapper carries it on past a
truncation, so an env paying -1 a step whose episodes are all truncated converges to one return,
and its scale shrinks without end), and the scaled reward is clipped to +-10, so one rare large
reward seen before the statistics settle cannot swamp an update.
"""

from __future__ import annotations

import numpy as np
from gymnasium.wrappers.utils import RunningMeanStd

CLIP = 10.0
EPSILON = 1e-8


class ReturnScale:
    """The running statistics of one worker's discounted returns, over all its envs."""

    def __init__(self, num_envs: int, gamma: float) -> None:
        self.gamma = gamma
        self.returns = np.zeros(num_envs, dtype=np.float64)
        self.stats = RunningMeanStd(shape=())

    def __call__(self, reward: np.ndarray, ended: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """This vector step's rewards, scaled; `valid` marks real transitions (not autoreset steps),
        `ended` the envs whose episode this step ended."""
        self.returns = np.where(valid, self.returns * self.gamma + reward, self.returns)
        if valid.any():
            self.stats.update(self.returns[valid])
        self.returns[ended] = 0.0
        return np.clip(reward / np.sqrt(self.stats.var + EPSILON), -CLIP, CLIP)

    @property
    def state(self) -> dict:
        """What a checkpoint keeps, so a resumed run goes on at the scale it had (JSON-ready). Not the
        returns under way: a resumed run's envs start new episodes."""
        return {"mean": float(self.stats.mean), "var": float(self.stats.var), "count": float(self.stats.count)}

    @state.setter
    def state(self, state: dict) -> None:
        self.stats.mean, self.stats.var, self.stats.count = (np.float64(state[k]) for k in ("mean", "var", "count"))
