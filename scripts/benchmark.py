"""How reliably and how fast a3c-cartpole learns, over many seeds, side by side with Stable-Baselines3.

For each env and seed it runs the real command line in a fresh process -- `python -m a3c_cartpole
--train --env E --seed S`, the env's preset and nothing else unless given after `--` -- and times
the whole process, imports included. Then it verifies the saved best agent independently: 100 greedy
episodes (`--verify-episodes`) on seeds neither training nor its solved check used. With
stable-baselines3 installed, SB3 (scripts/sb3_baseline.py, RL-Zoo's settings) runs interleaved with
ours, seed by seed, stopping at its first pass of the same solved check (ours stops there too,
unless its preset trains on to the budget, as LunarLander's does: its wall time is then the whole
run's): A2C on CartPole (every seed), PPO on LunarLander-v3 (seeds 0-4 only, SB3_SEEDS: a run takes
minutes); SB3's runs are verified the same way, and the ratio of median wall times is printed.
`--no-sb3` skips SB3.

Per env it prints a table (solved and verified, env steps to solve, wall time, throughput) and
writes a PNG of learning curves: the greedy evaluation return against env steps, median over the
seeds with the spread from the worst to the best seed, and the solved threshold.

    python scripts/benchmark.py --envs CartPole-v1 --seeds 0-9
    python scripts/benchmark.py --envs LunarLander-v3 --seeds 0-9 --jobs 2 --no-sb3

`--jobs N` runs N seeds at once: fine for counting solved seeds and env steps, but their wall times
share the cores and are not comparable with a run on a quiet machine.

`--runs FILE` keeps every finished run's figures in FILE (JSON) and adds the seeds it already holds
to the tables and curves: a benchmark too long for one sitting (games from pixels take minutes a
seed) is run a few seeds at a time. Runs with other flags after `--` are kept apart. The saved
agents are verified over `--verify-episodes` (100) fresh greedy episodes, and deleted at the end
unless `--keep DIR` keeps every run's save dir to study.

    python scripts/benchmark.py --envs MinAtar/Breakout-v1 --seeds 0-2 --no-sb3 --runs docs/runs.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import functools
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
from sb3_baseline import BASELINES  # scripts/sb3_baseline.py: the envs SB3 runs on and its algorithm on each

from a3c_cartpole.evaluation.solved_check import format_score
from a3c_cartpole.presets import load_presets
from a3c_cartpole.training.outputs import RunFiles, write_json

HERE = Path(__file__).resolve().parent
TRAIN = [sys.executable, "-m", "a3c_cartpole", "--train"]
"""The command every timed run of ours starts with: a fresh process, so its wall time includes imports."""
VERIFY_SEED = 7_000_000  # far from training (10_000 * k) and solved-check (1_000_000 + ...) seeds
VERIFY_EPISODES = 100
"""The default; an Atari game's greedy episodes take minutes each on a CPU (`--verify-episodes`)."""
SB3_SEEDS = {"LunarLander-v3": range(5)}
"""Where SB3 runs on some seeds only: PPO on LunarLander takes minutes a seed, so seeds 0-4 (ours takes every seed asked
for, 0-9 by default). An env not here: every seed."""
CURVE_POINTS = 200


def parse_seeds(text: str) -> list[int]:
    """'0-9' or '0,3,5' -> list of ints; 'stored': none, only the runs `--runs` holds (tables, curves)."""
    if text == "stored":
        return []
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def run_timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Wall time of one whole process; exit codes other than 0 are kept for the caller to judge."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    return time.perf_counter() - start, proc


def import_seconds(module: str) -> float:
    """Wall time of a fresh process that only imports `module` (the floor under any start-up)."""
    seconds, proc = run_timed([sys.executable, "-c", f"import {module}"])
    if proc.returncode != 0:
        sys.exit(f"cannot import {module}: {proc.stderr[-500:]}")
    return seconds


def load_verifier() -> None:
    """Import TensorFlow and the loading code in the main thread: with --jobs, two threads importing
    them at once broke TensorFlow's import (a partly initialised module)."""
    from a3c_cartpole.tf_setup import import_tensorflow_quietly

    import_tensorflow_quietly()
    import a3c_cartpole.playback.saved_policy  # noqa: F401


def verify_ours(save_dir: Path, env_id: str, episodes: int) -> float:
    from a3c_cartpole.evaluation.episodes import run_episodes
    from a3c_cartpole.playback.saved_policy import load_policy

    policy = load_policy(save_dir, env_id)
    return float(np.mean(run_episodes(policy.info, episodes, policy.network.greedy, VERIFY_SEED)))


def sb3_label(env_id: str) -> str:
    """ "SB3 A2C" or "SB3 PPO": SB3's agent on `env_id` in the tables, the curves and the `--runs` store."""
    return f"SB3 {BASELINES[env_id].algorithm}"


def verify_sb3(model_path: Path, env_id: str, episodes: int) -> float:
    """SB3's agent on the same fresh episodes, in a process of its own: loading it imports torch's
    compiler stack (triton), which crashed a process that had TensorFlow loaded."""
    code = (
        "import sys, numpy as np, stable_baselines3\n"
        "from a3c_cartpole.envs.spec import describe_env\n"
        "from a3c_cartpole.evaluation.episodes import run_episodes\n"
        "model = getattr(stable_baselines3, sys.argv[5]).load(sys.argv[1], device='cpu')\n"
        "act = lambda obs: model.predict(obs, deterministic=True)[0]\n"
        "print(np.mean(run_episodes(describe_env(sys.argv[2]), int(sys.argv[3]), act, int(sys.argv[4]))))\n"
    )
    args = [str(model_path), env_id, str(episodes), str(VERIFY_SEED), BASELINES[env_id].algorithm]
    _, proc = run_timed([sys.executable, "-c", code, *args])
    if proc.returncode != 0:
        sys.exit(f"verifying SB3's agent failed: {proc.stderr[-1000:]}")
    return float(proc.stdout.split()[-1])


def bench_ours(env_id: str, seed: int, workdir: Path, extra: list[str], episodes: int) -> dict:
    save_dir = workdir / f"ours-{env_id.replace('/', '_')}-{seed}"
    cmd = [*TRAIN, "--env", env_id, "--seed", str(seed)]
    spawned = time.time()
    seconds, proc = run_timed([*cmd, "--save-dir", str(save_dir), "--quiet", *extra])
    exited = spawned + seconds
    record = read_record(save_dir, env_id, proc)
    timeline = record["timeline"]
    passed = timeline["solved_check_passed"]
    return {
        "solved": record["solved"],
        "wall": seconds,
        "steps": record["solved_at_step"] if record["solved"] else record["steps"],
        "sps": record["steps"] / record["seconds"],
        "verified": verify_ours(save_dir, env_id, episodes),
        "verify_episodes": episodes,
        "target": record["config"].get("target_score"),
        "curve": [(p["step"], p["mean"]) for p in record.get("evaluations", [])],
        "last_step": record["steps"],
        "startup": None if timeline["first_env_step"] is None else timeline["first_env_step"] - spawned,
        "after_solved": None if passed is None else exited - passed,
        "eval_share": timeline["evaluation_seconds"] / record["seconds"],
        "effective_sps": effective_rate(RunFiles(save_dir, env_id).episodes_csv),
    }


def read_record(save_dir: Path, env_id: str, proc: subprocess.CompletedProcess) -> dict:
    """The run record a training process left in `save_dir`; exits with its stderr if there is none."""
    record_path = RunFiles(save_dir, env_id).run_record
    if not record_path.is_file():
        sys.exit(f"training failed ({proc.returncode}): {' '.join(proc.args)}\n{proc.stderr[-2000:]}")
    return json.loads(record_path.read_text())


def effective_rate(episodes_csv: Path) -> float:
    """The CSV's last global_step over its wall_time: env steps per second with every cost of training in."""
    with episodes_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return int(rows[-1]["global_step"]) / float(rows[-1]["wall_time"]) if rows else 0.0


def bench_sb3(env_id: str, seed: int, workdir: Path, episodes: int) -> dict:
    model_path = workdir / f"sb3-{env_id}-{seed}.zip"
    cmd = [sys.executable, str(HERE / "sb3_baseline.py"), "--env", env_id, "--seed", str(seed)]
    seconds, proc = run_timed([*cmd, "--save", str(model_path)])
    if proc.returncode != 0:
        # killed by a signal: on a CPU-only machine, torch's CUDA build crashing as it imports triton
        hint = " (killed by a signal; docs/benchmark.md, Method: pip uninstall triton)" if proc.returncode < 0 else ""
        sys.exit(f"SB3 failed ({proc.returncode}){hint}: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "solved": record["solved"],
        "wall": seconds,
        "steps": record["steps"],
        "sps": record["steps_per_second"],
        "verified": verify_sb3(model_path, env_id, episodes),
        "verify_episodes": episodes,
        "curve": [tuple(point) for point in record["curve"]],
        "last_step": record["steps"],
    }


def verified(row: dict, threshold: float | None) -> bool:
    """Solved, and the saved agent holds the threshold on fresh episodes (an env without one is never solved)."""
    return threshold is not None and row["solved"] and row["verified"] >= threshold


def summarise(rows: dict[int, dict], threshold: float) -> dict:
    """Count of solved-and-verified seeds, and medians and worst cases over the seeds."""
    steps = [r["steps"] for r in rows.values()]
    return {
        "verified": sum(verified(r, threshold) for r in rows.values()),
        "seeds": len(rows),
        "median_steps": statistics.median(steps),
        "worst_steps": max(steps),
        "median_wall": statistics.median(r["wall"] for r in rows.values()),
        "median_sps": statistics.median(r["sps"] for r in rows.values()),
        "median_verified": statistics.median(r["verified"] for r in rows.values()),
        "worst_verified": min(r["verified"] for r in rows.values()),
        "threshold": threshold,  # how many decimals a score needs: FrozenLake's 0.85 is not 0.9
    }


def print_table(name: str, env_id: str, threshold: float | None, rows: dict[int, dict]) -> dict:
    bar = "no threshold: the score is the saved best model's" if threshold is None else f"threshold {threshold:g}"
    counts = sorted({r.get("verify_episodes", VERIFY_EPISODES) for r in rows.values()})
    episodes = " or ".join(map(str, counts))
    print(f"\n{name} on {env_id} (verified: mean of {episodes} fresh greedy episodes; {bar})")
    print(f"{'seed':>4} {'solved':>6} {'wall s':>7} {'steps to solve':>14} {'train steps/s':>13} {'verified':>8}")
    for seed, r in rows.items():
        ok = "-" if threshold is None else "yes" if verified(r, threshold) else ("lucky" if r["solved"] else "no")
        score = format_score(r["verified"], threshold)
        print(f"{seed:>4} {ok:>6} {r['wall']:>7.1f} {r['steps']:>14,} {r['sps']:>13,.0f} {score:>8}")
    s = summarise(rows, threshold)
    count = f"{s['verified']}/{s['seeds']}"
    print(
        f"{'med':>4} {count:>6} {s['median_wall']:>7.1f} {s['median_steps']:>14,.0f} "
        f"{s['median_sps']:>13,.0f} {format_score(s['median_verified'], threshold):>8}"
    )
    worst = format_score(s["worst_verified"], threshold)
    print(f"worst seed: {s['worst_steps']:,} env steps to solve (or its budget), verified {worst}")
    return s


def spread(values: list[float], fmt: str, worst=max) -> str:
    """ "median M, worst W" of one figure over the seeds; `worst` is max for costs, min for rates."""
    return f"median {statistics.median(values):{fmt}}, worst {worst(values):{fmt}}"


def print_costs(rows: dict[int, dict], tf_imports: list[float]) -> None:
    """The fixed costs, the share of time the solved checks took, and the effective rate.

    Start-up is printed beside its peer, bare imports of TensorFlow timed beside the runs: most of a
    run's start is that import, whose time varies from one minute to the next on a busy machine."""
    startup = [r["startup"] for r in rows.values() if r["startup"] is not None]
    print(f"import tensorflow alone, {len(tf_imports)} times beside the runs: {spread(tf_imports, '.2f')} s")
    print(f"process start to first env step: {spread(startup, '.2f')} s")
    after = [r["after_solved"] for r in rows.values() if r["after_solved"] is not None]
    if after:
        print(f"solved check passed to process exit: {spread(after, '.2f')} s")
    shares = [r["eval_share"] for r in rows.values()]
    print(f"solved checks' own time (beside training) over training wall time: {spread(shares, '.1%')}")
    rates = [r["effective_sps"] for r in rows.values()]
    rate = spread(rates, ",.0f", worst=min)
    print(f"effective rate, CSV last global_step / wall_time: {rate} env steps/s")


def markdown_row(env_id: str, name: str, s: dict) -> str:
    """A row of the README's results table."""
    return (
        f"| {env_id} | {name} | {s['verified']}/{s['seeds']} | {s['median_steps']:,.0f} | {s['worst_steps']:,.0f} "
        f"| {s['median_wall']:.1f} | {format_score(s['median_verified'], s['threshold'])} "
        f"(worst {format_score(s['worst_verified'], s['threshold'])}) |"
    )


def curve_on_grid(points: list[tuple[int, float]], grid: np.ndarray) -> np.ndarray:
    """A run's evaluation returns at each grid step: the latest evaluation so far (NaN before the first).

    A run that stopped early (solved) keeps its last evaluation to the end of the grid, as its agent does.
    """
    values = np.full(len(grid), np.nan)
    if not points:
        return values
    steps = np.array([p[0] for p in points])
    means = np.array([p[1] for p in points])
    index = np.searchsorted(steps, grid, side="right") - 1
    seen = index >= 0
    values[seen] = means[index[seen]]
    return values


def write_curves(path: Path, env_id: str, threshold: float | None, runs: dict[str, dict[int, dict]]) -> None:
    """Median greedy evaluation return against env steps per agent, with the worst-to-best band."""
    from a3c_cartpole.training.outputs import load_pyplot

    plt = load_pyplot()
    end = max(r["last_step"] for rows in runs.values() for r in rows.values())
    grid = np.linspace(0, end, CURVE_POINTS)
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=100)
    for (name, rows), color in zip(runs.items(), ("tab:blue", "tab:orange"), strict=False):
        curves = np.array([curve_on_grid(r["curve"], grid) for r in rows.values()])
        have = ~np.isnan(curves).all(axis=0)
        low, median, high = (np.nanpercentile(curves[:, have], q, axis=0) for q in (0, 50, 100))
        ax.plot(grid[have], median, color=color, linewidth=2, label=f"{name}: median of {len(rows)} seeds")
        ax.fill_between(grid[have], low, high, color=color, alpha=0.2, label=f"{name}: worst to best seed")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"solved threshold ({threshold:g})")
    ax.set_xlabel("env steps")
    ax.set_ylabel("greedy evaluation return (latest)")
    ax.set_title(f"{env_id}: greedy return over training")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False, fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    print(f"learning curves: {path}")


class RunStore:
    """Finished runs' figures by env, agent and seed, in a JSON file (`--runs`); none without one.

    Every run is written as it finishes (temp file, then rename), so an interrupted benchmark keeps
    what it measured; a seed run again replaces its earlier figures."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.runs: dict = json.loads(path.read_text()) if path is not None and path.exists() else {}

    def earlier(self, env_id: str, agent: str, skip: list[int]) -> dict[int, dict]:
        """The stored runs of `agent` on `env_id`, but for the seeds in `skip` (about to run again)."""
        stored = self.runs.get(env_id, {}).get(agent, {})
        return {int(seed): row for seed, row in stored.items() if int(seed) not in skip}

    def keep(self, env_id: str, agent: str, seed: int, row: dict) -> None:
        if self.path is None:
            return
        self.runs.setdefault(env_id, {}).setdefault(agent, {})[str(seed)] = row
        write_json(self.path, self.runs)


def with_earlier(store: RunStore, env_id: str, agent: str, rows: dict[int, dict]) -> dict[int, dict]:
    """`rows` and the stored runs of the seeds they lack, by seed."""
    merged = {**store.earlier(env_id, agent, list(rows)), **rows}
    return dict(sorted(merged.items()))


def bench_env(env_id: str, args: argparse.Namespace, workdir: Path, extra: list[str]) -> list[str]:
    from a3c_cartpole.envs.spec import describe_env

    threshold = describe_env(env_id).reward_threshold  # registers a game's namespace too
    with_sb3 = args.with_sb3 and env_id in BASELINES
    sb3_key = sb3_label(env_id) if with_sb3 else ""
    sb3_seeds = SB3_SEEDS.get(env_id, args.seeds)
    store = args.store
    ours_key = " ".join(["a3c-cartpole", *extra])  # runs with other flags are other agents in the store
    ours: dict[int, dict] = {}
    sb3: dict[int, dict] = {}
    tf_imports = [args.tf_import]
    if args.jobs > 1:  # learning figures only: the seeds share the cores
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            bench = functools.partial(bench_ours, env_id, workdir=workdir, extra=extra, episodes=args.verify_episodes)
            futures = {seed: pool.submit(bench, seed=seed) for seed in args.seeds}
            for seed, future in futures.items():
                ours[seed] = future.result()
                store.keep(env_id, ours_key, seed, ours[seed])
                print(f"{env_id} seed {seed}: a3c-cartpole {ours[seed]['wall']:.1f} s", flush=True)
    else:
        for seed in args.seeds:
            tf_imports.append(import_seconds("tensorflow"))
            ours[seed] = bench_ours(env_id, seed, workdir, extra, args.verify_episodes)
            store.keep(env_id, ours_key, seed, ours[seed])
            line = f"{env_id} seed {seed}: a3c-cartpole {ours[seed]['wall']:.1f} s"
            if with_sb3 and seed in sb3_seeds:
                sb3[seed] = bench_sb3(env_id, seed, workdir, args.verify_episodes)
                store.keep(env_id, sb3_key, seed, sb3[seed])
                line += f", {sb3_key} {sb3[seed]['wall']:.1f} s"
            print(line, flush=True)
    ours = with_earlier(store, env_id, ours_key, ours)
    if not ours:
        print(f"{env_id}: no runs to show (none stored for these flags in --runs)")
        return []
    targets = {row.get("target") for row in ours.values()} - {None}
    if len(targets) == 1:  # the preset's own bar (Taxi's: its threshold fails most sets of the optimal policy)
        threshold = targets.pop()
    if with_sb3:
        sb3 = with_earlier(store, env_id, sb3_key, sb3)
    rows = [markdown_row(env_id, "a3c-cartpole", print_table("a3c-cartpole", env_id, threshold, ours))]
    print_costs(ours, tf_imports)
    runs = {"a3c-cartpole": ours}
    if sb3:
        rows.append(markdown_row(env_id, sb3_key, print_table(f"{sb3_key} (RL-Zoo settings)", env_id, threshold, sb3)))
        runs[sb3_key] = sb3
        ratio = statistics.median(r["wall"] for r in ours.values()) / statistics.median(r["wall"] for r in sb3.values())
        seeds = "" if len(ours) == len(sb3) else f" (medians over {len(ours)} and {len(sb3)} seeds)"
        print(f"median end-to-end wall time, ours / {sb3_key}: {ratio:.2f}x{seeds}")
    write_curves(args.out / f"curves-{env_id.replace('/', '_')}.png", env_id, threshold, runs)
    return rows


def time_refusals(workdir: Path) -> None:
    """Bad input that needs no TensorFlow to judge: how long each refusal takes, and whether it is one
    line on stderr with exit 2, as the README promises."""
    not_a_dir = workdir / "a-file"
    not_a_dir.write_text("")
    cases = {
        "misspelt env id": ["--env", "CartPol-v1"],
        "continuous actions": ["--env", "MountainCarContinuous-v0"],
        "negative rate": ["--lr", "-1"],
        "unknown preset": ["--preset", "nosuch"],
        "save dir is a file": ["--save-dir", str(not_a_dir)],
    }
    print("\nrefusals: seconds to the answer, exit code, the line on stderr")
    for name, flags in cases.items():
        seconds, proc = run_timed([*TRAIN, *flags])
        lines = proc.stderr.strip().splitlines()
        verdict = "ok" if proc.returncode == 2 and len(lines) == 1 else "NOT ONE LINE"
        print(f"  {name:<20} {seconds:5.2f} s  exit {proc.returncode}  {verdict}: {lines[-1][:90]}")


def time_scaling(workdir: Path, env_id: str, steps: int, backends: list[str], extra: list[str]) -> None:
    """Effective rate of training `env_id` (its preset) with 1 and 2 workers, each backend installed, same budget.

    Worth timing on more than CartPole: a worker process or a Ray actor pays a round trip per rollout,
    which a short, cheap CartPole rollout cannot hide and a longer or costlier one can."""
    added = f", with {' '.join(extra)}" if extra else ""
    print(f"\nworkers and backends: {env_id} preset{added}, seed 0, {steps:,} env steps without early stop")
    for backend in backends:
        rates = {}
        for workers in (1, 2):
            save_dir = workdir / f"scaling-{env_id.replace('/', '_')}-{backend}-{workers}"
            flags = ["--env", env_id, "--workers", str(workers), "--backend", backend, *extra]
            flags += ["--max-steps", str(steps), "--no-early-stop"]
            seconds, proc = run_timed([*TRAIN, "--seed", "0", "--save-dir", str(save_dir), *flags])
            if proc.returncode not in (0, 3):
                sys.exit(f"scaling run failed ({proc.returncode}): {proc.stderr[-1000:]}")
            rates[workers] = effective_rate(RunFiles(save_dir, env_id).episodes_csv)
            print(f"  {backend:<8} {workers} worker(s): {rates[workers]:>8,.0f} env steps/s ({seconds:.1f} s in all)")
        print(f"  {backend:<8} 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")


def time_eval_cost(workdir: Path, seeds: list[int], steps: int) -> None:
    """What the solved checks cost training, as the wall time they add: CartPole-v1's preset trained to
    `steps` env steps without early stop, with its looks (every `eval_every` steps once the gate opens) and
    with a single look, back to back per seed in alternating order; the ratio of training seconds.

    The checks run in a process of their own, beside the workers, so their own seconds overstate what
    they cost; this measures the cost itself. The gaps between looks show whether a look in flight
    held the next one back (the interval, if none did)."""
    print(f"\nsolved checks' cost: CartPole-v1 preset, {steps:,} env steps without early stop, looks vs one look")
    interval = load_presets()["CartPole-v1"]["eval_every"]
    one_look = 10 * steps  # an interval past the budget: the look when the gate opens is the only one
    ratios, gaps = [], []
    for index, seed in enumerate(seeds):
        seconds = {}
        for every in (None, one_look)[:: 1 if index % 2 == 0 else -1]:
            save_dir = workdir / f"eval-cost-{seed}-{every}"
            flags = ["--seed", str(seed), "--max-steps", str(steps), "--no-early-stop", "--quiet"]
            flags += [] if every is None else ["--eval-every", str(every)]
            _, proc = run_timed([*TRAIN, "--save-dir", str(save_dir), *flags])
            record = read_record(save_dir, "CartPole-v1", proc)
            seconds[every] = record["seconds"]
            if every is None:
                # a run that never passed ends with a judgement of its final model, at the budget: not a look
                looked_at = [point["step"] for point in record["evaluations"] if point["step"] < steps]
                gaps += list(np.diff(looked_at))
        ratios.append(seconds[None] / seconds[one_look])
        print(
            f"  seed {seed}: {seconds[None]:.2f} s with looks, {seconds[one_look]:.2f} s with one ({ratios[-1]:.2f}x)"
        )
    cost = [ratio - 1 for ratio in ratios]
    print(f"  training time added by the looks: {spread(cost, '+.1%')}")
    if gaps:
        print(f"  env steps between looks: {spread(gaps, ',.0f')} (the interval: {interval:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="*", default=["CartPole-v1"], help="none: only the other timings asked for")
    parser.add_argument(
        "--seeds", type=parse_seeds, default=parse_seeds("0-9"), help="e.g. 0-9 or 0,2,4; stored: redraw from --runs"
    )
    parser.add_argument(
        "--no-sb3", dest="with_sb3", action="store_false", help="skip SB3 (A2C, PPO) even if it is installed"
    )
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (wall times then share the cores)")
    parser.add_argument(
        "--scaling", type=int, metavar="STEPS", help="also time 1 and 2 workers per backend for STEPS env steps"
    )
    parser.add_argument(
        "--scaling-envs", nargs="+", default=["CartPole-v1"], metavar="ENV", help="envs --scaling times (presets)"
    )
    parser.add_argument(
        "--scaling-backends",
        nargs="+",
        default=["threads", "processes"] + (["ray"] if importlib.util.find_spec("ray") else []),
        metavar="BACKEND",
        help="backends --scaling times (all installed)",
    )
    parser.add_argument(
        "--eval-cost", type=int, metavar="STEPS", help="also time CartPole-v1 to STEPS env steps with and without looks"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="where the learning-curve PNGs go")
    parser.add_argument(
        "--verify-episodes",
        type=int,
        default=VERIFY_EPISODES,
        metavar="N",
        help="fresh greedy episodes that verify each saved agent",
    )
    parser.add_argument(
        "--runs", type=Path, metavar="FILE", help="keep each run's figures here, and add the seeds it holds already"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="leave each run's save dir (agent, logs) in DIR (new or empty), not in a temp dir",
    )
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more a3c-cartpole flags")
    args = parser.parse_args()
    extra = [a for a in args.extra if a != "--"]
    if args.verify_episodes < 1:
        parser.error("--verify-episodes must be at least 1")
    if args.with_sb3 and importlib.util.find_spec("stable_baselines3") is None:
        print("stable-baselines3 is not installed: timing a3c-cartpole alone (pip install stable-baselines3)")
        args.with_sb3 = False
    args.store = RunStore(args.runs)
    args.tf_import = import_seconds("tensorflow")
    print(f"import tensorflow alone: {args.tf_import:.2f} s")
    load_verifier()
    table = []
    with tempfile.TemporaryDirectory(prefix="a3c-bench-") as tmp:
        for env_id in args.envs:
            table += bench_env(env_id, args, args.keep or Path(tmp), extra)
        time_refusals(Path(tmp))
        if args.scaling:
            for env_id in args.scaling_envs:
                time_scaling(Path(tmp), env_id, args.scaling, args.scaling_backends, extra)
        if args.eval_cost:
            time_eval_cost(Path(tmp), args.seeds, args.eval_cost)
    print(
        "\n| env | agent | solved and verified | median env steps to solve | worst | median wall s | verified return |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(table))


if __name__ == "__main__":
    main()
