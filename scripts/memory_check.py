"""Does a long run's memory stay flat? Resident memory of a 3M-step CartPole run, against env steps.

It runs the real command line in a subprocess,

    python -m a3c_cartpole --train --no-early-stop --max-steps 3000000 --max-eps 1000000 --quiet --seed 0

and once a second reads the process's resident memory (VmRSS in /proc/PID/status, Linux only)
and the run's env steps (global_step of the last row of its episodes CSV, which training rewrites
every 10 s). The first 500k steps are warm-up (TensorFlow's allocator, traced functions, the
episode log starting to grow); what counts is the growth from there to the end of training. The
final files are reported apart: the plot loads matplotlib, which is no leak.

    python scripts/memory_check.py               # exits 1 if RSS grew by more than 50 MB after 500k steps
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1024 * 1024


def resident_bytes(pid: int) -> int | None:
    """VmRSS of a running process; None once it has exited."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        return None
    return None


def last_global_step(csv_path: Path) -> int:
    """global_step of the last episode in the CSV (0 before the first row): read from the file's end."""
    try:
        with open(csv_path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 256))
            last = handle.read().decode().strip().splitlines()[-1].split(",")
    except (OSError, IndexError):
        return 0
    return int(last[4]) if last[0].isdigit() else 0


def measure(max_steps: int, save_dir: Path) -> tuple[list[tuple[float, int, int, bool]], int]:
    """Run training and sample (seconds, env steps, RSS bytes, still training) every second; returns the
    samples and the exit code. Training is over once the final weights, the first of the final files, exist."""
    command = [sys.executable, "-m", "a3c_cartpole", "--train", "--no-early-stop", "--max-steps", str(max_steps)]
    command += ["--max-eps", "1000000", "--quiet", "--seed", "0", "--save-dir", str(save_dir)]
    csv_path = save_dir / "CartPole-v1_episodes.csv"
    final_weights = save_dir / "CartPole-v1_final.weights.h5"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    samples = []
    start = time.monotonic()
    while process.poll() is None:
        rss = resident_bytes(process.pid)
        if rss is not None:
            training = not final_weights.exists()
            samples.append((time.monotonic() - start, last_global_step(csv_path), rss, training))
        time.sleep(1.0)
    return samples, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-steps", type=int, default=3_000_000, help="env steps of the run")
    parser.add_argument("--after", type=int, default=500_000, help="env steps of warm-up before growth counts")
    parser.add_argument("--limit-mb", type=float, default=50.0, help="allowed growth after the warm-up")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="a3c-memory-") as tmp:
        samples, code = measure(args.max_steps, Path(tmp))
    for seconds, steps, rss, _ in samples[:: max(1, len(samples) // 20)]:
        print(f"{seconds:7.0f} s {steps:>10,} steps  RSS {rss / MB:7.1f} MB")
    training = [sample for sample in samples if sample[3]]  # not the final files: the plot loads matplotlib
    warm = next(((steps, rss) for _, steps, rss, _ in training if steps >= args.after), None)
    if warm is None:
        sys.exit(f"the run (exit code {code}) never reached {args.after:,} steps")
    _, end_steps, end_rss, _ = training[-1]
    peak = max(rss for _, steps, rss, _ in training if steps >= args.after)
    growth = (end_rss - warm[1]) / MB
    print(
        f"RSS at {warm[0]:,} steps: {warm[1] / MB:.1f} MB; at the end of training ({end_steps:,} steps): "
        f"{end_rss / MB:.1f} MB; growth {growth:+.1f} MB; peak in between {peak / MB:.1f} MB; "
        f"{samples[-1][2] / MB:.1f} MB while writing the final files; run exit code {code}"
    )
    if growth > args.limit_mb:
        sys.exit(f"resident memory grew by {growth:.1f} MB after {args.after:,} steps (limit {args.limit_mb:g} MB)")


if __name__ == "__main__":
    main()
