"""Time to a solved CartPole, end to end, for a3c-cartpole and (if installed) SB3's A2C.

For each env and seed it runs the real command line in a fresh process -- `python -m a3c_cartpole
--train --seed S`, the same as `a3c-cartpole` -- and times the whole process, imports included.
Then it verifies the saved best agent independently: 100 greedy episodes on seeds neither training
nor its solved check used. With stable-baselines3 installed, SB3 A2C (scripts/sb3_a2c_baseline.py)
runs interleaved with ours, seed by seed, under the same stop rule, and the ratio of medians is
printed.

    python scripts/benchmark.py --envs CartPole-v1 CartPole-v0 --seeds 0-9
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
VERIFY_SEED = 7_000_000  # far from training (10_000 * k) and solved-check (1_000_000 + ...) seeds
VERIFY_EPISODES = 100


def parse_seeds(text: str) -> list[int]:
    """'0-9' or '0,3,5' -> list of ints."""
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def run_timed(cmd: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, subprocess.CompletedProcess]:
    """Run `cmd` and time it; stop the benchmark on an exit code not in `ok`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode not in ok:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return seconds, proc


def verify_ours(save_dir: Path, env_id: str) -> float:
    from a3c_cartpole.tf_setup import import_tensorflow_quietly

    import_tensorflow_quietly()
    from a3c_cartpole.episodes import run_episodes
    from a3c_cartpole.saved_policy import load_policy

    policy = load_policy(save_dir, env_id)
    return float(np.mean(run_episodes(env_id, VERIFY_EPISODES, policy.network.greedy, VERIFY_SEED)))


def verify_sb3(model_path: Path, env_id: str) -> float:
    from stable_baselines3 import A2C

    from a3c_cartpole.episodes import run_episodes

    model = A2C.load(model_path, device="cpu")
    return float(
        np.mean(
            run_episodes(env_id, VERIFY_EPISODES, lambda obs: model.predict(obs, deterministic=True)[0], VERIFY_SEED)
        )
    )


def bench_ours(env_id: str, seed: int, workdir: Path, extra: list[str]) -> dict:
    save_dir = workdir / f"ours-{env_id}-{seed}"
    cmd = [
        sys.executable,
        "-m",
        "a3c_cartpole",
        "--train",
        "--env",
        env_id,
        "--seed",
        str(seed),
        "--save-dir",
        str(save_dir),
        "--quiet",
    ]
    seconds, _ = run_timed(cmd + extra, ok=(0, 3))  # 3: trained to the budget without solving
    record = json.loads((save_dir / f"{env_id}_run.json").read_text())
    return {
        "solved": record["solved"],
        "wall": seconds,
        "steps": record["solved_at_step"] if record["solved"] else record["steps"],
        "sps": record["steps"] / record["seconds"],
        "verified": verify_ours(save_dir, env_id),
    }


def bench_sb3(env_id: str, seed: int, workdir: Path) -> dict:
    model_path = workdir / f"sb3-{env_id}-{seed}.zip"
    cmd = [sys.executable, str(HERE / "sb3_a2c_baseline.py"), "--env", env_id, "--seed", str(seed)]
    seconds, proc = run_timed([*cmd, "--save", str(model_path)])
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "solved": record["solved"],
        "wall": seconds,
        "steps": record["steps"],
        "sps": record["steps_per_second"],
        "verified": verify_sb3(model_path, env_id),
    }


def print_table(name: str, env_id: str, threshold: float, rows: dict[int, dict]) -> None:
    print(f"\n{name} on {env_id} (verified: mean of {VERIFY_EPISODES} fresh greedy episodes; threshold {threshold:g})")
    print(f"{'seed':>4} {'solved':>6} {'wall s':>7} {'steps to solve':>14} {'train steps/s':>13} {'verified':>8}")
    for seed, r in rows.items():
        ok = "yes" if r["solved"] and r["verified"] >= threshold else ("lucky" if r["solved"] else "no")
        print(f"{seed:>4} {ok:>6} {r['wall']:>7.1f} {r['steps']:>14,} {r['sps']:>13,.0f} {r['verified']:>8.1f}")
    med = {k: statistics.median(r[k] for r in rows.values()) for k in ("wall", "steps", "sps", "verified")}
    solved = sum(1 for r in rows.values() if r["solved"] and r["verified"] >= threshold)
    print(
        f"{'med':>4} {f'{solved}/{len(rows)}':>6} {med['wall']:>7.1f} {med['steps']:>14,.0f} "
        f"{med['sps']:>13,.0f} {med['verified']:>8.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1"])
    parser.add_argument("--seeds", type=parse_seeds, default=parse_seeds("0-9"), help="e.g. 0-9 or 0,2,4")
    parser.add_argument("--no-sb3", action="store_true", help="skip SB3 even if it is installed")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more a3c-cartpole flags")
    args = parser.parse_args()
    extra = [a for a in args.extra if a != "--"]
    with_sb3 = not args.no_sb3 and importlib.util.find_spec("stable_baselines3") is not None
    if not with_sb3 and not args.no_sb3:
        print("stable-baselines3 is not installed: timing a3c-cartpole alone (pip install stable-baselines3)")

    import gymnasium as gym

    with tempfile.TemporaryDirectory(prefix="a3c-bench-") as tmp:
        workdir = Path(tmp)
        for env_id in args.envs:
            threshold = gym.spec(env_id).reward_threshold
            ours, sb3 = {}, {}
            for seed in args.seeds:
                ours[seed] = bench_ours(env_id, seed, workdir, extra)
                line = f"{env_id} seed {seed}: a3c-cartpole {ours[seed]['wall']:.1f} s"
                if with_sb3:
                    sb3[seed] = bench_sb3(env_id, seed, workdir)
                    line += f", SB3 A2C {sb3[seed]['wall']:.1f} s"
                print(line, flush=True)
            print_table("a3c-cartpole", env_id, threshold, ours)
            if with_sb3:
                print_table("SB3 A2C (RL-Zoo hyperparameters)", env_id, threshold, sb3)
                ratio = statistics.median(r["wall"] for r in sb3.values()) / statistics.median(
                    r["wall"] for r in ours.values()
                )
                sps = statistics.median(r["sps"] for r in ours.values()) / statistics.median(
                    r["sps"] for r in sb3.values()
                )
                print(
                    f"median end-to-end wall time, SB3 / ours: {ratio:.2f}x; training steps/s, ours / SB3: {sps:.2f}x"
                )


if __name__ == "__main__":
    main()
