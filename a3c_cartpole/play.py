"""--play: the trained agent on screen, in a recording, or just its scores.

Episodes are played one after another on a plain `gymnasium.make` env reset with seeds
seed, seed+1, ..., so the scores printed here are exactly what `load_policy` gives a user who
loops over the same seeds.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from a3c_cartpole.config import ConfigError
from a3c_cartpole.envs import describe_env
from a3c_cartpole.outputs import atomic_path
from a3c_cartpole.saved_policy import GreedyPolicy

RECORD_FORMATS = (".gif",)
# Recordings keep every FRAME_SKIP-th frame at 1/DOWNSCALE size: a readable GIF of a fraction of the size.
FRAME_SKIP = 2
DOWNSCALE = 2


def has_display() -> bool:
    """Whether a window can open (X11 or Wayland on Linux; always assumed elsewhere)."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@dataclasses.dataclass(frozen=True)
class PlayReport:
    """Scores of the played episodes and their verdict."""

    env_id: str
    returns: np.ndarray
    threshold: float | None

    @property
    def solved(self) -> bool:
        return self.threshold is not None and float(np.mean(self.returns)) >= self.threshold

    def summary(self) -> str:
        mean, std = float(np.mean(self.returns)), float(np.std(self.returns))
        line = f"{self.env_id}: mean {mean:.1f} ± {std:.1f} over {len(self.returns)} episodes"
        if self.threshold is None:
            return line + " (the env defines no solved threshold)"
        verdict = "meets" if self.solved else "does not meet"
        return f"{line}; {verdict} the solved threshold of {self.threshold:g}"


def play(
    policy: GreedyPolicy,
    episodes: int,
    seed: int,
    record: Path | None = None,
    window: bool | None = None,
    echo=print,
) -> PlayReport:
    """Play `episodes` greedy episodes; show them in a window where possible, or record them."""
    info = describe_env(policy.env_id)
    if record is not None and record.suffix.lower() not in RECORD_FORMATS:
        raise ConfigError(f"--record supports {', '.join(RECORD_FORMATS)} files, not {record.name!r}")
    if window is None:
        window = record is None and has_display()
        if record is None and not window:
            echo("No display found: playing without a window (add --record play.gif to watch it later).")
    render_mode = "rgb_array" if record is not None else ("human" if window else None)
    env = gym.make(policy.env_id, render_mode=render_mode)
    frames: list[np.ndarray] = []
    returns = []
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, step, done = 0.0, 0, False
            while not done:
                if record is not None and step % FRAME_SKIP == 0:
                    frames.append(env.render()[::DOWNSCALE, ::DOWNSCALE])
                obs, reward, terminated, truncated, _ = env.step(policy(obs))
                total += float(reward)
                step += 1
                done = terminated or truncated
            returns.append(total)
            echo(f"episode {i + 1}: return {total:g}")
    finally:
        env.close()
    if record is not None:
        write_gif(record, frames, fps=env.metadata.get("render_fps", 50) / FRAME_SKIP)
        echo(f"Recorded {len(frames)} frames to {record}")
    return PlayReport(policy.env_id, np.asarray(returns), info.reward_threshold)


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """An animated GIF, written atomically with Pillow (which matplotlib already brings)."""
    from PIL import Image

    if not frames:
        raise ConfigError("nothing to record: no frames were rendered")
    images = [Image.fromarray(frame) for frame in frames]
    try:
        with atomic_path(path) as tmp:
            images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    except OSError as err:
        raise ConfigError(f"cannot write {path}: {err.strerror or err}") from None
