"""A Stable-Baselines3 baseline on one env, stopped by the same rule as a3c-cartpole.

Run as its own process by scripts/benchmark.py so that its wall time includes its imports, like
ours. Each env in BASELINES has an algorithm and the settings RL-Zoo (DLR-RM/rl-baselines3-zoo)
keeps for it; whatever a setting leaves out is SB3's default, always with MlpPolicy on the CPU and
torch on one thread:

- CartPole-v0, CartPole-v1: A2C, hyperparams/a2c.yml's CartPole-v1 entry (8 envs, ent_coef 0,
  5e5 env steps).
- LunarLander-v3: PPO, hyperparams/ppo.yml's LunarLander entry (filed there as LunarLander-v2, the
  same task): 16 envs, n_steps 1024, batch_size 64, n_epochs 4, gamma 0.999, gae_lambda 0.98,
  ent_coef 0.01, 1e6 env steps.

The stop rule: every `eval_every` env steps (5,000 on CartPole, 50,000 on LunarLander), 100
deterministic episodes on 100 vectorised envs; training stops at the first look whose mean reaches
the env's reward threshold, or at the step budget (RL-Zoo's n_timesteps; SB3 finishes the rollout
under way, so a run may end a little past it). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field

START = time.perf_counter()


@dataclass(frozen=True)
class Baseline:
    """How SB3 trains on one env: the algorithm's class name in stable_baselines3 and its keywords."""

    algorithm: str
    n_envs: int
    eval_every: int
    """Env steps between looks; a multiple of n_envs, as SB3 counts its evaluation interval in vector steps."""
    max_steps: int
    settings: dict[str, float | int] = field(default_factory=dict)
    """Keywords for the algorithm beyond SB3's defaults."""

    def __post_init__(self) -> None:
        if self.eval_every % self.n_envs:
            raise ValueError(f"eval_every {self.eval_every} is not a multiple of n_envs {self.n_envs}")


CARTPOLE = Baseline("A2C", n_envs=8, eval_every=5_000, max_steps=500_000, settings={"ent_coef": 0.0})
BASELINES = {
    "CartPole-v0": CARTPOLE,
    "CartPole-v1": CARTPOLE,
    "LunarLander-v3": Baseline(
        "PPO",
        n_envs=16,
        eval_every=50_000,
        max_steps=1_000_000,
        settings={
            "n_steps": 1024,
            "batch_size": 64,
            "n_epochs": 4,
            "gamma": 0.999,
            "gae_lambda": 0.98,
            "ent_coef": 0.01,
        },
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="CartPole-v1", choices=sorted(BASELINES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", required=True, help="path for the trained model (.zip)")
    parser.add_argument("--max-steps", type=int, help="env step budget (default: the env's in BASELINES)")
    args = parser.parse_args()
    baseline = BASELINES[args.env]
    budget = baseline.max_steps if args.max_steps is None else args.max_steps

    # imported here, after START, so that the process's own time includes them (and benchmark.py
    # can read BASELINES without loading torch)
    import gymnasium as gym
    import stable_baselines3
    import torch
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    threshold = gym.spec(args.env).reward_threshold
    envs = make_vec_env(args.env, n_envs=baseline.n_envs, seed=args.seed)
    eval_envs = make_vec_env(args.env, n_envs=100, seed=args.seed + 1_000_000)
    stop = StopTrainingOnRewardThreshold(reward_threshold=threshold, verbose=0)
    evaluation = EvalCallback(
        eval_envs,
        callback_on_new_best=stop,
        n_eval_episodes=100,
        eval_freq=baseline.eval_every // baseline.n_envs,
        log_path=tempfile.mkdtemp(prefix="sb3-eval-"),  # SB3 keeps each evaluation's returns only with a log path
        deterministic=True,
        verbose=0,
    )
    algorithm = getattr(stable_baselines3, baseline.algorithm)
    model = algorithm("MlpPolicy", envs, **baseline.settings, seed=args.seed, device="cpu", verbose=0)
    train_start = time.perf_counter()
    model.learn(total_timesteps=budget, callback=evaluation)
    train_seconds = time.perf_counter() - train_start
    model.save(args.save)
    solved = evaluation.best_mean_reward >= threshold
    print(
        json.dumps(
            {
                "solved": bool(solved),
                "steps": int(model.num_timesteps),
                "train_seconds": train_seconds,
                "steps_per_second": model.num_timesteps / train_seconds,
                "seconds_in_process": time.perf_counter() - START,
                "curve": [
                    [int(step), float(sum(returns) / len(returns))]
                    for step, returns in zip(
                        evaluation.evaluations_timesteps, evaluation.evaluations_results, strict=True
                    )
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
