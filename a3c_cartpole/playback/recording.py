"""Recording played episodes to a GIF (Pillow, always there) or an MP4 (the optional video extra).

A GIF keeps every other frame at half size, a readable file of a fraction of the size; Pillow
needs all its frames at once, so a GIF stops at GIF_MAX_FRAMES (~180 MB of frames, 80 s of play).
An MP4 keeps every frame at full size and streams them to ffmpeg (imageio-ffmpeg ships the
binary), so a long recording never sits in memory. Either file is written under a temporary name
and renamed when complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from a3c_cartpole.config import ConfigError
from a3c_cartpole.training.outputs import atomic_path

VIDEO_EXTRA = "pip install 'a3c-cartpole[video]'"
GIF_MAX_FRAMES = 1000


@dataclasses.dataclass(frozen=True)
class RecordFormat:
    """How one file type is recorded: which frames are kept, and at what scale."""

    frame_skip: int
    downscale: int


RECORD_FORMATS = {".gif": RecordFormat(frame_skip=2, downscale=2), ".mp4": RecordFormat(frame_skip=1, downscale=1)}


def record_format(path: Path) -> RecordFormat:
    """The format of `path`, checked before any episode is played (a missing encoder fails fast)."""
    suffix = Path(path).suffix.lower()
    if suffix not in RECORD_FORMATS:
        raise ConfigError(f"--record supports {', '.join(RECORD_FORMATS)} files, not {Path(path).name!r}")
    if suffix == ".mp4":
        require_video_extra()
    return RECORD_FORMATS[suffix]


def require_video_extra() -> None:
    """MP4 needs imageio and imageio-ffmpeg, an optional extra: say which, in one line."""
    missing = [name for name in ("imageio", "imageio_ffmpeg") if find_spec(name) is None]
    if missing:
        raise ConfigError(f"MP4 recording needs {' and '.join(missing)}: {VIDEO_EXTRA} (or record a .gif)")
    import imageio_ffmpeg

    try:
        imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as err:
        raise ConfigError(f"MP4 recording found no ffmpeg executable ({err}): {VIDEO_EXTRA}") from None


class Recorder:
    """Collects frames of played episodes and writes them to `path` when closed without error."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.format = record_format(self.path)
        self.fps = fps / self.format.frame_skip
        self.frames = 0
        self._gif_frames: list[np.ndarray] = []
        self._stack = contextlib.ExitStack()
        try:
            self._tmp = self._stack.enter_context(atomic_path(self.path))
        except OSError as err:
            raise ConfigError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._video = None

    @property
    def full(self) -> bool:
        """A GIF holds at most GIF_MAX_FRAMES; later frames are dropped (an MP4 has no limit)."""
        return self._video is None and self.path.suffix.lower() == ".gif" and self.frames >= GIF_MAX_FRAMES

    def wants(self, step: int) -> bool:
        """Whether the frame of this step of an episode is kept (render only those)."""
        return step % self.format.frame_skip == 0 and not self.full

    def add(self, frame: np.ndarray) -> None:
        d = self.format.downscale
        if d > 1:  # average d x d blocks: plain slicing would drop one-pixel lines such as the track
            h, w = frame.shape[0] // d, frame.shape[1] // d
            frame = frame[: h * d, : w * d].reshape(h, d, w, d, -1).mean(axis=(1, 3)).astype(np.uint8)
        if self.path.suffix.lower() == ".gif":
            self._gif_frames.append(frame)
        else:
            if self._video is None:
                import imageio.v2 as imageio

                # libx264 with yuv420p needs even sides; imageio pads nothing at a block size of 2
                # for the usual even-sized renders (CartPole 600x400, Acrobot 500x500).
                self._video = imageio.get_writer(
                    self._tmp, format="FFMPEG", fps=self.fps, codec="libx264", macro_block_size=2
                )
            self._video.append_data(frame)
        self.frames += 1

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:  # playing failed: drop the temporary file, keep any earlier recording
            if self._video is not None:
                with contextlib.suppress(Exception):
                    self._video.close()
            self._stack.__exit__(exc_type, exc, tb)
            return False
        try:
            self._finish()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        self._stack.__exit__(None, None, None)  # renames the complete file into place
        return False

    def _finish(self) -> None:
        if self.frames == 0:
            raise ConfigError("nothing to record: no frames were rendered")
        try:
            if self._video is not None:
                self._video.close()
            else:
                write_gif(self._tmp, self._gif_frames, self.fps)
        except OSError as err:
            raise ConfigError(f"cannot write {self.path}: {err.strerror or err}") from None


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """An animated GIF with Pillow (which matplotlib already brings)."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
