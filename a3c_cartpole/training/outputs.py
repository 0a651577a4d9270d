"""Everything a run writes: file names, atomic writes, the episode CSV and the plot.

Every file is written under a temporary name in the same directory and renamed into place, so an
interrupted run never leaves a half-written file and never destroys the previous good one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from a3c_cartpole.config import first_line

if TYPE_CHECKING:  # for annotations only: this module stays light for the CLI and the evaluation process
    from matplotlib.figure import Figure

    from a3c_cartpole.a3c.ledger import EpisodeRecord
    from a3c_cartpole.evaluation.solved_check import EvaluationPoint

CSV_HEADER = ("episode", "worker", "return", "length", "global_step", "wall_time")
MOVING_AVERAGE_WINDOW = 100
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_MPLCONFIGDIR_GIVEN = os.environ.get("MPLCONFIGDIR")
"""MPLCONFIGDIR as this process found it, before matplotlib (imported later, by the plot or by an env
such as MinAtar's) could put a temp dir of its own there."""


def file_name(env_id: str) -> str:
    """The env id as a name in a folder: a user's "module:Env-v0" gets "module+Env-v0", since a colon is
    awkward in shells and refused by some file systems (gymnasium ids never hold a "+": reversible)."""
    return env_id.replace(":", "+")


def env_id_from_file_name(name: str) -> str:
    """The env id back from a folder's name (`file_name`'s inverse)."""
    return name.replace("+", ":")


class RunFiles:
    """Names of the files and folders of one env's run in a save dir (each carries the env id).

    Runs written before ids were made safe for file names keep the names they have: where only those
    exist, they are the run's names, so --play, load_policy and --resume find an earlier run.
    """

    def __init__(self, save_dir: Path, env_id: str) -> None:
        self.save_dir = Path(save_dir)
        self.env_id = env_id
        self._name(file_name(env_id))
        if file_name(env_id) != env_id and not self.existing():
            self._name(env_id)  # the names an earlier version gave
            if not self.existing():
                self._name(file_name(env_id))

    def __repr__(self) -> str:
        return f"RunFiles(save_dir={str(self.save_dir)!r}, env_id={self.env_id!r})"

    def _name(self, name: str) -> None:
        stem = name.replace("/", "_")  # namespaced ids ("ALE/Pong-ram-v5") stay one file name
        self.best_weights = self.save_dir / f"{stem}_best.weights.h5"
        self.final_weights = self.save_dir / f"{stem}_final.weights.h5"
        self.episodes_csv = self.save_dir / f"{stem}_episodes.csv"
        self.plot = self.save_dir / f"{stem}_returns.png"
        self.run_record = self.save_dir / f"{stem}_run.json"
        self.error_log = self.save_dir / f"{stem}_error.log"
        self.checkpoints = self.save_dir / "checkpoints" / name
        self.settings = self.checkpoints / "settings.json"
        """The run's settings, written with its first checkpoint: what `--resume` continues with."""
        self.tensorboard = self.save_dir / "tensorboard" / name
        self.lock = self.save_dir / f".{stem}.lock"
        self.reserve = self.save_dir / f".{stem}.reserve"

    def outputs(self) -> dict[str, Path]:
        """Everything the run writes, by name, checkpoints first (the lock file is the folder's, not the run's)."""
        return {
            "checkpoints": self.checkpoints,
            "best_weights": self.best_weights,
            "final_weights": self.final_weights,
            "episodes_csv": self.episodes_csv,
            "plot": self.plot,
            "run_record": self.run_record,
            "tensorboard": self.tensorboard,
            "error_log": self.error_log,
        }

    def existing(self) -> dict[str, Path]:
        """The run's files and folders that are on disk."""
        return {name: path for name, path in self.outputs().items() if path.exists()}

    def remove(self) -> None:
        """Delete the run, checkpoints first: a removal cut short never leaves a resumable half-run."""
        for path in self.existing().values():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


class WriteFailed(OSError):
    """A file of the run could not be written (a full disk, a folder gone or made read-only): the run
    stops, and the command says which file and why in one line, exit code 1."""


# Why a write fails, as the system says it: a full disk (or quota), a read-only or vanished folder.
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.ENOENT, errno.EIO)


def write_cause(err: Exception) -> str:
    """Why a write failed, in the system's words ("no space left on device"): h5py and TensorFlow
    quote them inside a paragraph of their own."""
    if isinstance(err, OSError) and err.errno:
        text = os.strerror(err.errno)
    else:
        quoted = (os.strerror(code) for code in WRITE_ERRNOS if os.strerror(code).lower() in str(err).lower())
        text = next(quoted, first_line(err))
    return text[:1].lower() + text[1:]


def write_failure(path: Path, err: Exception) -> WriteFailed:
    """The error to report for `path`, named by the file the user knows, not by its temporary twin."""
    if isinstance(err, WriteFailed):
        return err
    return WriteFailed(f"cannot write {path}: {write_cause(err)}")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary name keeps the final suffix (Keras insists on '.weights.h5'). Whatever fails, the
    temporary file is removed and the old `path` is left as it was; an OSError becomes `WriteFailed`.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes[-2:]))
    except OSError as err:
        raise write_failure(path, err) from None
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results should be readable like any other
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise write_failure(path, err) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class DiskReserve:
    """Room kept on the disk for a run's weights: a file of `size` zero bytes while the run trains.

    A disk that fills while a run trains fills at whatever write comes next, and TensorBoard's
    events alone filled a 300 kB folder: the weights, written at the end, found no room. Shrunk
    just before the final files, the reserve gives the weights (written first) the room it held, and
    keeps the rest for the run record, which --play needs to rebuild the network.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.path = Path(path)
        try:
            with open(self.path, "wb") as handle:
                handle.write(bytes(size))  # zeros written out take real blocks, unlike a file truncated to size
        except OSError as err:
            self.release()
            where = self.path.parent
            raise WriteFailed(f"no room for the weights ({size:,} bytes) in {where}: {write_cause(err)}") from None

    def shrink(self, size: int) -> None:
        """Give back all but `size` bytes (kept for a file written later)."""
        with contextlib.suppress(FileNotFoundError):
            os.truncate(self.path, size)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_episodes_csv(path: Path, episodes: Sequence[EpisodeRecord]) -> None:
    """One row per finished episode, in the order the episodes ended."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_HEADER)
        for e in episodes:
            writer.writerow(
                (e.episode, e.worker, f"{e.episode_return:g}", e.length, e.global_step, f"{e.wall_time:.3f}")
            )


def moving_average(values: Sequence[float], window: int = MOVING_AVERAGE_WINDOW) -> np.ndarray:
    """Mean of the last `window` values at each point (fewer at the start)."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    starts = np.maximum(idx - window, 0)
    return (sums[idx] - sums[starts]) / (idx - starts)


def load_pyplot():
    """matplotlib.pyplot on the file-only Agg backend: a headless run must never open a window.

    Imported on first use, not with this module: it takes longer than anything else a run writes.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def remove_plotting_temp_dir() -> None:
    """Before an exit that skips exit hooks (os._exit): delete the temp dir matplotlib made for its
    font cache because it found no writable config dir (a read-only or missing HOME, as in many
    containers, or an MPLCONFIGDIR it cannot write). matplotlib names that dir in MPLCONFIGDIR and
    leaves its removal to an exit hook, so each run would leave one. A dir the user chose is kept."""
    made = os.environ.get("MPLCONFIGDIR")
    if made is None or made == _MPLCONFIGDIR_GIVEN:
        return
    path = Path(made)
    if path.parent == Path(tempfile.gettempdir()) and path.name.startswith("matplotlib-"):
        shutil.rmtree(path, ignore_errors=True)


def write_plot(
    path: Path,
    episodes: Sequence[EpisodeRecord],
    env_id: str,
    threshold: float | None,
    solved_at_episode: int | None = None,
    evaluations: Sequence[EvaluationPoint] = (),
) -> None:
    """The run's plot (`draw_plot`), written atomically: a reader never finds half a PNG, and a run
    that fails mid-write keeps its earlier plot."""
    with atomic_path(path) as tmp:
        render_png(draw_plot(episodes, env_id, threshold, solved_at_episode, evaluations), tmp)


def draw_plot(
    episodes: Sequence[EpisodeRecord],
    env_id: str,
    threshold: float | None,
    solved_at_episode: int | None = None,
    evaluations: Sequence[EvaluationPoint] = (),
) -> Figure:
    """Episode return and its moving average against episodes, with the solved threshold drawn.

    Training returns come from the sampling policy, which lags the greedy one; the episode where the
    greedy policy passed the solved check is marked so the two are not confused.
    """
    plt = load_pyplot()
    returns = [e.episode_return for e in episodes]
    x = np.arange(1, len(returns) + 1)
    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=100)
    ax.plot(x, returns, color="tab:blue", alpha=0.3, linewidth=0.8, label="episode return")
    if returns:
        ax.plot(
            x,
            moving_average(returns),
            color="tab:blue",
            linewidth=2,
            label=f"moving average ({MOVING_AVERAGE_WINDOW} episodes)",
        )
    if evaluations:  # what "solved" is judged on: the greedy policy, which the training returns lag
        ax.errorbar(
            [p.episode for p in evaluations],
            [p.mean for p in evaluations],
            yerr=[p.std for p in evaluations],
            fmt="o",
            markersize=4,
            color="tab:orange",
            ecolor="tab:orange",
            alpha=0.8,
            capsize=2,
            label="greedy evaluation (mean ± std)",
        )
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"solved threshold ({threshold:g})")
    if solved_at_episode is not None:
        ax.axvline(
            solved_at_episode,
            color="tab:green",
            linestyle=":",
            label=f"greedy policy solved (episode {solved_at_episode:,})",
        )
    ax.set_xlabel("episode")
    ax.set_ylabel("return")
    ax.set_title(f"A3C on {env_id}")
    ax.grid(alpha=0.3)
    # below the axes, so it can hide neither the threshold line nor the data; fixed margins leave it
    # room (tight_layout measured every label at each run's end: 0.2 s)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False, fontsize="small")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.23)
    return fig


def warm_up_plotting() -> None:
    """Draw an empty plot and render it into memory: the first figure of a process loads fonts and
    renderer, which costs a run's end ~0.1 s if left to the real plot. Nothing goes to disk: the
    evaluation process ends with os._exit, which would leave a temp dir of a warm-up cut short."""
    render_png(draw_plot([], "warm-up", None), io.BytesIO())


def render_png(fig: Figure, target: Path | BinaryIO) -> None:
    """Save `fig` as a PNG and close it, even if saving fails: the evaluation process lives for the
    whole run, and pyplot keeps every figure not closed."""
    try:
        fig.savefig(target, format="png")
    finally:
        load_pyplot().close(fig)
