"""Recording played episodes to a GIF (Pillow, always there) or an MP4 (the optional video extra).

A GIF keeps every other frame at half size, a readable file of a fraction of the size; Pillow
needs all its frames at once, so a GIF holds at most GIF_MAX_FRAMES (~180 MB of frames, 40 s of
CartPole at 25 frames a second, four whole episodes of 500 steps). It holds whole episodes: one that
would not fit is left out, and no frame is rendered after that (only a first episode longer than
the cap is cut). All of a GIF's frames share the first frame's palette, which is five times faster
to write than a palette per frame, and exact for the flat colours of gymnasium's renders. An MP4
keeps every frame at full size and streams them to ffmpeg (imageio-ffmpeg ships the binary), so a
long recording never sits in memory and has no cap. Either file is written under a temporary name
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
    """Collects frames of played episodes and writes them to `path` when closed without error.

    Call `end_episode` after each episode: a GIF keeps the episode only if it fits whole.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.format = record_format(self.path)
        self.fps = fps / self.format.frame_skip
        self.max_frames = GIF_MAX_FRAMES if self._is_gif else None
        self.frames = 0
        """Frames in the file: those of the episodes recorded."""
        self.episodes = 0
        """Episodes in the file."""
        self.full = False
        """Whether a GIF reached its cap: later episodes are played without rendering."""
        self.cut = False
        """Whether the first episode alone outgrew the cap and the file holds only its beginning."""
        self._gif_frames: list[np.ndarray] = []
        self._episode: list[np.ndarray] = []
        self._overflowed = False
        self._stack = contextlib.ExitStack()
        try:
            self._tmp = self._stack.enter_context(atomic_path(self.path))
        except OSError as err:
            raise ConfigError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._video = None

    @property
    def _is_gif(self) -> bool:
        return self.path.suffix.lower() == ".gif"

    def wants(self, step: int) -> bool:
        """Whether the frame of this step of an episode is kept (render only those)."""
        if self.full or step % self.format.frame_skip:
            return False
        if self.max_frames is not None and self.frames + len(self._episode) >= self.max_frames:
            self._overflowed = True  # this episode does not fit whole
            return False
        return True

    def add(self, frame: np.ndarray) -> None:
        frame = downscale(frame, self.format.downscale)
        if self._is_gif:
            self._episode.append(frame)
            return
        if self._video is None:
            import imageio.v2 as imageio

            # libx264 with yuv420p needs even sides; imageio pads nothing at a block size of 2
            # for the usual even-sized renders (CartPole 600x400, Acrobot 500x500).
            self._video = imageio.get_writer(
                self._tmp, format="FFMPEG", fps=self.fps, codec="libx264", macro_block_size=2
            )
        self._video.append_data(frame)
        self.frames += 1

    def end_episode(self) -> None:
        """The episode is over: a GIF keeps it if it fitted whole; the first episode is kept in any case."""
        if self.full:
            return
        if self._overflowed:
            self.full = True
            self.cut = self.episodes == 0
            if not self.cut:
                self._episode = []
                return
        self._gif_frames += self._episode
        self.frames += len(self._episode)
        self._episode = []
        self.episodes += 1

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


def downscale(frame: np.ndarray, d: int) -> np.ndarray:
    """The mean of each d x d block, so one-pixel lines such as CartPole's track survive (plain slicing
    would drop them); summed in uint16 slices, ten times faster than a float mean over a reshape."""
    if d == 1:
        return frame
    h, w = frame.shape[0] // d, frame.shape[1] // d
    wide = frame[: h * d, : w * d].astype(np.uint16)
    total = sum(wide[i::d, j::d] for i in range(d) for j in range(d))
    return (total // (d * d)).astype(np.uint8)


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """An animated GIF with Pillow (which matplotlib already brings), every frame on the first's palette."""
    from PIL import Image

    palette = Image.fromarray(frames[0]).quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
