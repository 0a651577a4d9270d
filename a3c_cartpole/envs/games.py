"""Games that gymnasium does not register by itself, named by their usual ids, and how each is dressed.

`MinAtar/Breakout-v1` or `ALE/Pong-v5` works with no other step than installing the package's extra:
the family's package registers its ids when an id names its namespace, and without the extra one
line names the pip command, before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from a3c_cartpole.config import ConfigError, first_line
from a3c_cartpole.envs import atari, minatar


@dataclasses.dataclass(frozen=True)
class GameFamily:
    """One namespace of game envs: how to register it, and what every env of it gets."""

    extra: str
    """The package's extra that installs it: pip install 'a3c-cartpole[extra]'."""
    register: Callable[[], None]
    time_limit: int
    """Steps per episode where the env has no limit of its own (in the env's own steps)."""
    make_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Arguments of gymnasium.make that the wrappers need (Atari: frameskip 1, as the wrappers skip frames)."""
    wrap: Callable[[gym.Env, bool], gym.Env] | None = None
    """(env, training) -> the env the agent sees."""
    scores_in_info: bool = False
    """Training episodes (a life) differ from games: whole games' scores come in info["episode"]."""
    frame: Callable[[np.ndarray], np.ndarray] | None = None
    """Draws an observation as an RGB picture, for games whose own rendering needs more than we install."""
    frames_per_second: int = 50


FAMILIES = {
    "MinAtar": GameFamily("minatar", minatar.register, minatar.TIME_LIMIT, frame=minatar.frame, frames_per_second=10),
    "ALE": GameFamily("atari", atari.register, atari.FRAMES_PER_EPISODE, {"frameskip": 1}, atari.wrap, True),
}


def family_of(env_id: str) -> GameFamily | None:
    """The game family whose namespace the id names (`MinAtar/...`, `ALE/...`), if any."""
    name = env_id.rpartition(":")[2]
    namespace, slash, _ = name.partition("/")
    return FAMILIES.get(namespace) if slash else None


def ensure_registered(env_id: str) -> None:
    """Register the id's game family with gymnasium, or say in one line which extra to install."""
    family = family_of(env_id)
    if family is None:
        return
    try:
        family.register()
    except ImportError as err:
        raise ConfigError(
            f"{env_id} needs the {family.extra} extra: pip install 'a3c-cartpole[{family.extra}]' ({first_line(err)})"
        ) from None
