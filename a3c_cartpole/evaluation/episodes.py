"""Playing many independent episodes at once: the solved check and the random baseline.

Each env of a vector env contributes exactly its first episode. Taking "the first N episodes to
finish" instead would favour short episodes and bias the average low.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from a3c_cartpole.envs.making import make_vector_env
from a3c_cartpole.envs.spec import EnvInfo

# Maps a batch of observations [B, *obs_shape] to a batch of actions [B].
BatchPolicy = Callable[[np.ndarray], np.ndarray]


def run_episodes(info: EnvInfo, episodes: int, act: BatchPolicy, seed: int, batch_size: int = 256) -> np.ndarray:
    """Undiscounted returns of `episodes` episodes of the env `info` describes, played by `act`, in batches."""
    returns: list[np.ndarray] = []
    for start in range(0, episodes, batch_size):
        n = min(batch_size, episodes - start)
        envs, obs = make_vector_env(info, n, seed + start)
        try:
            total = np.zeros(n)
            running = np.ones(n, dtype=bool)
            while running.any():
                obs, reward, terminated, truncated, _ = envs.step(act(np.asarray(obs, dtype=info.obs_dtype)))
                total += np.where(running, reward, 0.0)
                running &= ~(terminated | truncated)
        finally:
            envs.close()
        returns.append(total)
    return np.concatenate(returns)
