"""--play: the trained agent on screen, in a recording, or just its scores.

Episodes are played one after another on one env reset with seeds seed, seed+1, ..., so the
scores printed here are exactly what `load_policy` gives a user who loops over the same seeds on
a plain `gymnasium.make` env (made with the run's keyword arguments).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from a3c_cartpole.config import ConfigError, TrainConfig, WorkerFailed, first_line
from a3c_cartpole.envs.games import family_of
from a3c_cartpole.envs.making import EnvFailed, make_env
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.evaluation.solved_check import Evaluation
from a3c_cartpole.playback.recording import RECORD_FORMATS, Recorder, record_format
from a3c_cartpole.playback.saved_policy import GreedyPolicy
from a3c_cartpole.training.failures import report_failure
from a3c_cartpole.training.progress import plural

__all__ = ["RECORD_FORMATS", "PlayReport", "has_display", "play"]


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
    judged_over: int = TrainConfig.eval_episodes
    """The episodes a solved check averages: a mean over fewer is no verdict, it may swing either way."""

    @property
    def solved(self) -> bool:
        """The same verdict as training's solved check."""
        return Evaluation(self.returns, self.threshold).solved

    @property
    def judged(self) -> bool:
        """Were enough episodes played for a verdict?"""
        return self.threshold is not None and len(self.returns) >= self.judged_over

    def as_dict(self) -> dict:
        """The report for scripts (`--play --json`)."""
        return {
            "env_id": self.env_id,
            "mean": float(np.mean(self.returns)),
            "std": float(np.std(self.returns)),
            "min": float(np.min(self.returns)),
            "max": float(np.max(self.returns)),
            "episodes": len(self.returns),
            "threshold": self.threshold,
            "judged_over": self.judged_over,
            "solved": self.solved if self.judged else None,  # None: no verdict, as in the summary
        }

    def summary(self) -> str:
        line = (
            f"{self.env_id}: mean {Evaluation(self.returns, self.threshold).mean_and_std()} "
            f"(min {np.min(self.returns):g}, max {np.max(self.returns):g}) over {len(self.returns):,} episodes"
        )
        if self.threshold is None:
            return line + " (the env defines no solved threshold)"
        if self.judged:
            verdict = "meets" if self.solved else "does not meet"
            return f"{line}; {verdict} the solved threshold of {self.threshold:g}"
        side = "at or above" if self.solved else "below"
        return (
            f"{line}; {side} the solved threshold of {self.threshold:g}, "
            f"but solved is judged over {self.judged_over} episodes (--episodes {self.judged_over})"
        )


def _make_rendering(info: EnvInfo, render_mode: str | None) -> gym.Env:
    """The env to play in, drawing frames as asked; an env that cannot draw is refused in one line.

    Without frames to draw, render_mode is not passed at all: a user's env need not accept it.
    """
    if render_mode is None:
        return make_env(info)
    try:
        return make_env(info, render_mode=render_mode)
    except Exception as err:  # TypeError from a constructor without render_mode, or gymnasium's own Error
        raise ConfigError(f"{info.env_id} cannot render frames ({render_mode}): {first_line(err)}") from None


def recording_note(recorder: Recorder, played: int) -> str:
    """What the file holds, and why not every episode if it does not."""
    what = plural(played, "episode") if recorder.episodes == played else f"{recorder.episodes:,} of {played:,} episodes"
    line = f"Recorded {what} ({recorder.frames:,} frames) to {recorder.path}"
    if recorder.cut:
        return f"{line}: the first {recorder.max_frames:,} frames of the first, all a GIF holds (an .mp4 holds all)"
    if recorder.full:
        return f"{line}: a GIF holds whole episodes up to {recorder.max_frames:,} frames (an .mp4 holds all)"
    return line


def _play_episode(
    env: gym.Env, policy: GreedyPolicy, seed: int, recorder: Recorder | None, draw: Callable | None = None
) -> float:
    """One greedy episode from a reset with `seed`, its frames to `recorder` if any (drawn from the
    observation by `draw`, for a game whose own rendering needs more than we install); its return."""
    obs, _ = env.reset(seed=seed)
    total, step, done = 0.0, 0, False
    while not done:
        if recorder is not None and recorder.wants(step):
            recorder.add(env.render())
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        step += 1
        done = terminated or truncated
    return total


def play(
    policy: GreedyPolicy,
    episodes: int,
    seed: int,
    record: Path | None = None,
    window: bool | None = None,
    echo=print,
    failure_log: Path | None = None,
    judged_over: int = TrainConfig.eval_episodes,
) -> PlayReport:
    """Play `episodes` greedy episodes; show them in a window where possible, or record them. The
    verdict is judged as the run's solved check judged (`judged_over` episodes, the policy's threshold).

    If the env raises, WorkerFailed says in one line which episode and what the env said; its
    traceback goes to `failure_log` (the run's error log), not to the console.
    """
    if record is not None:
        record_format(record)  # an unknown suffix or a missing encoder fails before any episode is played
    if window is None:
        window = record is None and has_display()
        if record is None and not window:
            echo("No display found: playing without a window (add --record play.gif to watch it later).")
    family = family_of(policy.info.env_id)
    draw = None if family is None else family.frame  # the game's own drawing needs more than we install
    if window and draw is not None:
        echo(f"{policy.info.env_id} opens no window here: playing without one (add --record play.gif to watch it).")
        window = False
    render_mode = "rgb_array" if record is not None and draw is None else ("human" if window else None)
    if not window:  # render off-screen: SDL would otherwise complain on stderr about a missing display
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = _make_rendering(policy.info, render_mode)
    fps = family.frames_per_second if draw is not None else env.metadata.get("render_fps", 50)
    returns = []
    with contextlib.ExitStack() as stack:
        stack.callback(env.close)
        recorder = None
        if record is not None:
            recorder = stack.enter_context(Recorder(record, fps=fps))
        for i in range(episodes):
            try:
                total = _play_episode(env, policy, seed + i, recorder, draw)
            except EnvFailed as err:
                raise WorkerFailed(report_failure(f"--play, episode {i + 1}", err, failure_log)) from None
            returns.append(total)
            if recorder is not None:
                recorder.end_episode()
            echo(f"episode {i + 1}: return {total:g}")
    if recorder is not None:
        echo(recording_note(recorder, episodes))
    return PlayReport(policy.env_id, np.asarray(returns), policy.info.reward_threshold, judged_over)
