"""Stable-Baselines3 A2C on a CartPole env, stopped by the same rule as a3c-cartpole.

Run as its own process by scripts/benchmark.py so that its wall time includes its imports, like
ours. Hyperparameters are RL-Zoo's for CartPole (8 envs, ent_coef 0; the rest are A2C defaults).
The stop rule: every 5,000 env steps, 100 deterministic episodes on 100 vectorised envs; stop when
their mean reaches the env's reward threshold. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

START = time.perf_counter()

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import A2C  # noqa: E402
from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402

N_ENVS = 8
EVAL_EVERY_STEPS = 5_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", required=True, help="path for the trained model (.zip)")
    parser.add_argument("--max-steps", type=int, default=500_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    threshold = gym.spec(args.env).reward_threshold
    envs = make_vec_env(args.env, n_envs=N_ENVS, seed=args.seed)
    eval_envs = make_vec_env(args.env, n_envs=100, seed=args.seed + 1_000_000)
    stop = StopTrainingOnRewardThreshold(reward_threshold=threshold, verbose=0)
    evaluation = EvalCallback(
        eval_envs,
        callback_on_new_best=stop,
        n_eval_episodes=100,
        eval_freq=EVAL_EVERY_STEPS // N_ENVS,
        log_path=tempfile.mkdtemp(prefix="sb3-eval-"),  # SB3 keeps each evaluation's returns only with a log path
        deterministic=True,
        verbose=0,
    )
    model = A2C("MlpPolicy", envs, ent_coef=0.0, seed=args.seed, device="cpu", verbose=0)
    train_start = time.perf_counter()
    model.learn(total_timesteps=args.max_steps, callback=evaluation)
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
