"""MinAtar (Young & Tian 2019): five Atari-like games on a 10x10 grid, one channel per kind of object.

Gymnasium does not register MinAtar's envs by itself: `minatar.gym.register_envs()` must run first,
so an id in the `MinAtar/` namespace does it here. MinAtar's own rgb_array rendering needs seaborn;
`frame` draws the grid with a palette of its own instead, scaled up so a person can see it.
"""

from __future__ import annotations

import importlib
import logging

import gymnasium as gym
import numpy as np

TIME_LIMIT = 10_000
"""Steps per episode. Breakout, Asterix, Seaquest and SpaceInvaders have no limit of their own, and a
good policy may never lose: the limit ends every training episode and every look (truncated, so a
training episode still bootstraps from the value of where it stopped)."""

CELL_PIXELS = 32
"""Each grid cell becomes a square of this many pixels in a recording: 10x10 cells -> 320x320 pixels
(a GIF keeps half of that)."""

_PALETTE = np.array(
    [
        (0, 0, 0),
        (230, 159, 0),
        (86, 180, 233),
        (0, 158, 115),
        (240, 228, 66),
        (0, 114, 178),
        (213, 94, 0),
        (204, 121, 167),
        (255, 255, 255),
        (153, 153, 153),
        (120, 60, 160),
    ],
    dtype=np.uint8,
)
"""Background, then one colour per channel (Okabe-Ito's colour-blind-safe set, and a few more)."""


def register() -> None:
    """Register MinAtar's ten ids (five games, -v0 full and -v1 minimal action sets), once."""
    if "MinAtar/Breakout-v1" in gym.registry:
        return
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # minatar.gym warns on import that seaborn is missing: we do not need it
    try:
        module = importlib.import_module("minatar.gym")
    finally:
        quiet.setLevel(level)
    module.register_envs()


def frame(state: np.ndarray) -> np.ndarray:
    """An RGB picture of one MinAtar state (10x10xC of 0/1): each cell takes the colour of its last
    channel set, scaled up to CELL_PIXELS a side."""
    state = np.asarray(state, dtype=bool)
    channel = np.where(state.any(axis=-1), state.shape[-1] - np.argmax(state[..., ::-1], axis=-1), 0)
    colours = _PALETTE[np.minimum(channel, len(_PALETTE) - 1)]
    return np.repeat(np.repeat(colours, CELL_PIXELS, axis=0), CELL_PIXELS, axis=1)
