"""Collecting t_max steps from a worker's vector env, and turning them into (lambda-)returns.

Each vector step is one numpy forward pass for all of the worker's envs. Finished episodes are
reported as they end, so the episode log and the budget are exact to the episode.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

import gymnasium as gym
import numpy as np

from a3c_cartpole.a3c.reward_scale import ReturnScale
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.games import family_of
from a3c_cartpole.envs.making import make_vector_env
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.networks.acting_copy import NumpyActorCritic


def lambda_returns(
    rewards: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
    lam: float = 1.0,
) -> np.ndarray:
    """Discounted lambda-returns R_t of a rollout, computed backwards; arrays are [T] or [T, N].

    R_t = r_t + gamma * ((1 - lam) * V(s_{t+1}) + lam * R_{t+1}). With lam = 1 these are the
    tutorial's n-step returns (each step bootstraps once, at the end of the rollout); lam < 1 mixes
    in shorter bootstraps, so that R_t - V(s_t) is GAE(lam)'s advantage: less variance, more bias.

    next_values[t] is V(s_{t+1}), the value of the observation step t returned. Where the chain of
    rewards stops, it is the whole future: at the last step (bootstrap) and where the episode was
    truncated by a time limit. After a termination the future is worth exactly 0.
    """
    returns = np.empty_like(next_values, dtype=np.float64)
    following = next_values[-1]
    for t in reversed(range(len(rewards))):
        following = lam * following + (1 - lam) * next_values[t]
        following = np.where(truncated[t], next_values[t], following)
        following = np.where(terminated[t], 0.0, following)
        returns[t] = rewards[t] + gamma * following
        following = returns[t]
    return returns.astype(np.float32)


@dataclasses.dataclass
class Batch:
    """One rollout flattened to [T*N]; mask is 0 at gymnasium's autoreset steps, 1 elsewhere."""

    states: np.ndarray
    actions: np.ndarray
    returns: np.ndarray
    mask: np.ndarray


@dataclasses.dataclass(frozen=True)
class FinishedEpisode:
    """An episode's undiscounted return and length, as the env reported them."""

    episode_return: float
    length: int


# Called once per vector step with the number of real env steps taken and the episodes that
# ended; returns False when training must stop (budget spent, solved, interrupted).
StepReport = Callable[[int, list[FinishedEpisode]], bool]


class StepLog:
    """A `StepReport` for a rollout acted in one process and counted in another's ledger: it keeps each
    vector step, as (env steps, episodes that ended), and never stops the rollout (the ledger decides
    what counts when the rollout arrives)."""

    def __init__(self) -> None:
        self.vector_steps: list[tuple[int, list[FinishedEpisode]]] = []

    def __call__(self, n_steps: int, finished: list[FinishedEpisode]) -> bool:
        self.vector_steps.append((n_steps, finished))
        return True


class Rollouts(Protocol):
    """Where a worker's rollouts come from: acted here (`RolloutCollector`) or in a child process
    (rollout_process.RolloutProcess, which may send the rollout's gradients instead)."""

    resume_state: dict
    """What a checkpoint keeps of the worker's rollouts and gives back on resume: the action-sampling
    generator's state, and the reward scale's statistics (--normalize-reward)."""

    def collect(self, policy: NumpyActorCritic, report: StepReport) -> Batch | None:
        """One rollout acted with `policy`; None if `report` stopped it. (A `RolloutProcess` that
        differentiates takes flat weights instead, and returns the rollout's `Gradients`.)"""
        ...

    def close(self) -> None: ...


class RolloutCollector:
    """Steps one worker's envs and remembers episodes that span several rollouts."""

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        first_obs: np.ndarray,
        rng: np.random.Generator,
        gamma: float,
        t_max: int,
        lam: float = 1.0,
        scores_in_info: bool = False,
        reward_scale: ReturnScale | None = None,
    ) -> None:
        """`scores_in_info`: the envs end training episodes before their games end (Atari's lives), and
        report each whole game's score in info["episode"]: that is what the episode log records.
        `reward_scale` (--normalize-reward): what the returns are computed from; the log keeps the env's."""
        self.envs = envs
        self.obs = first_obs
        self.rng = rng
        self.gamma = gamma
        self.t_max = t_max
        self.lam = lam
        self.scores_in_info = scores_in_info
        self.reward_scale = reward_scale
        n = envs.num_envs
        self.episode_return = np.zeros(n, dtype=np.float64)
        self.episode_length = np.zeros(n, dtype=np.int64)
        # True where the env's previous step ended an episode: its next step is gymnasium's
        # autoreset step (action ignored, reward 0), not a transition to learn from.
        self.resetting = np.zeros(n, dtype=bool)

    def collect(self, policy: NumpyActorCritic, report: StepReport) -> Batch | None:
        """Act t_max vector steps with `policy`; None if told to stop part-way."""
        t_max, n = self.t_max, self.envs.num_envs
        obs_shape = self.obs.shape[1:]
        states = np.empty((t_max + 1, n, *obs_shape), dtype=self.obs.dtype)
        actions = np.empty((t_max, n), dtype=np.int32)
        rewards = np.empty((t_max, n), dtype=np.float32)
        terminated = np.empty((t_max, n), dtype=bool)
        truncated = np.empty((t_max, n), dtype=bool)
        valid = np.empty((t_max, n), dtype=bool)

        for t in range(t_max):
            states[t] = self.obs
            actions[t] = policy.sample(self.obs, self.rng)
            obs, reward, term, trunc, infos = self.envs.step(actions[t])
            self.obs = np.asarray(obs, dtype=states.dtype)
            terminated[t], truncated[t] = term, trunc
            valid[t] = ~self.resetting
            ended = term | trunc
            finished = self._account(reward, ended, valid[t])
            rewards[t] = reward if self.reward_scale is None else self.reward_scale(reward, ended, valid[t])
            if self.scores_in_info:
                finished = whole_games(infos)
            if not report(int(valid[t].sum()), finished):
                return None
        states[t_max] = self.obs

        next_values = policy.values(states[1:].reshape(t_max * n, *obs_shape)).reshape(t_max, n)
        returns = lambda_returns(rewards, terminated, truncated, next_values, self.gamma, self.lam)
        return Batch(
            states[:t_max].reshape(t_max * n, *obs_shape),
            actions.reshape(-1),
            returns.reshape(-1),
            valid.reshape(-1).astype(np.float32),
        )

    @property
    def resume_state(self) -> dict:
        state = {"rng": self.rng.bit_generator.state}
        if self.reward_scale is not None:
            state["reward_scale"] = self.reward_scale.state
        return state

    @resume_state.setter
    def resume_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state.get("rng", state)  # older checkpoints: the generator's alone
        if self.reward_scale is not None and "reward_scale" in state:
            self.reward_scale.state = state["reward_scale"]

    def close(self) -> None:
        self.envs.close()

    def _account(self, reward: np.ndarray, ended: np.ndarray, valid: np.ndarray) -> list[FinishedEpisode]:
        """Add this step to the running episodes; return the ones that ended."""
        self.episode_return += np.where(valid, reward, 0.0)
        self.episode_length += valid
        ended = ended & valid
        finished = [
            FinishedEpisode(float(self.episode_return[i]), int(self.episode_length[i])) for i in np.flatnonzero(ended)
        ]
        self.episode_return[ended] = 0.0
        self.episode_length[ended] = 0
        self.resetting = ended
        return finished


def whole_games(infos: dict) -> list[FinishedEpisode]:
    """The games that ended at this vector step, at their real score, from gymnasium's
    RecordEpisodeStatistics (info["episode"], with "_episode" marking the envs it speaks for)."""
    if "episode" not in infos:
        return []
    games = infos["episode"]
    return [FinishedEpisode(float(games["r"][i]), int(games["l"][i])) for i in np.flatnonzero(infos["_episode"])]


def make_collector(config: TrainConfig, info: EnvInfo, env_seed: int, rng_seed) -> RolloutCollector:
    """A worker's envs, seeded with `env_seed`, and its rollouts, their actions drawn with `rng_seed`."""
    envs, first_obs = make_vector_env(info, config.envs_per_worker, env_seed, training=True)
    family = family_of(info.env_id)
    return RolloutCollector(
        envs,
        first_obs,
        np.random.default_rng(rng_seed),
        config.gamma,
        config.update_freq,
        config.gae_lambda,
        scores_in_info=family is not None and family.scores_in_info,
        reward_scale=ReturnScale(config.envs_per_worker, config.gamma) if config.normalize_reward else None,
    )
