"""Output helpers: atomic writes, the moving average, the episode CSV, and the lines of the plot."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from a3c_cartpole.a3c.ledger import EpisodeRecord
from a3c_cartpole.training.outputs import (
    CSV_HEADER,
    RunFiles,
    atomic_path,
    moving_average,
    write_episodes_csv,
    write_plot,
)


def temp_leftovers(directory):
    """Temporary files of atomic_path are hidden ('.name.xxxx'): any left behind is a leak."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# --- atomic_path ------------------------------------------------------------------------------


def test_atomic_path_keeps_the_old_file_when_the_block_raises(tmp_path):
    target = tmp_path / "CartPole-v1_run.json"
    target.write_bytes(b"old result")
    with pytest.raises(RuntimeError, match="crash half-way"), atomic_path(target) as tmp:
        tmp.write_bytes(b"half-writ")  # a partial new file...
        raise RuntimeError("crash half-way")  # ...and the writer dies
    assert target.read_bytes() == b"old result"
    assert temp_leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CartPole-v1_run.json"]


def test_atomic_path_creates_nothing_when_the_first_write_fails(tmp_path):
    target = tmp_path / "CartPole-v1_episodes.csv"
    with pytest.raises(OSError), atomic_path(target) as tmp:
        tmp.write_text("episode\n")
        raise OSError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_the_file_only_after_the_block(tmp_path):
    target = tmp_path / "CartPole-v1_best.weights.h5"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp != target and tmp.parent == tmp_path  # same dir, so the final rename is atomic
        assert tmp.name.startswith(".") and tmp.name.endswith(".weights.h5")  # hidden; Keras needs the suffix
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"  # readers still see the old file while writing
    assert target.read_bytes() == b"new"
    assert temp_leftovers(tmp_path) == []


# --- moving_average -----------------------------------------------------------------------------


def test_moving_average_window_three_by_hand():
    # [1], [1,2], [1,2,3], [2,3,4] -> 1, 1.5, 2, 3
    np.testing.assert_allclose(moving_average([1, 2, 3, 4], window=3), [1.0, 1.5, 2.0, 3.0])


def test_moving_average_with_window_longer_than_data_is_the_running_mean():
    # cumulative means of 10, 20, 60: 10, 15, 30
    np.testing.assert_allclose(moving_average([10, 20, 60], window=100), [10.0, 15.0, 30.0])


def test_moving_average_window_one_is_the_data_itself():
    np.testing.assert_allclose(moving_average([5.0, -1.0, 7.5], window=1), [5.0, -1.0, 7.5])


def test_moving_average_default_window_is_one_hundred_episodes():
    # 100 zeros then 100 ones: at index 149 the last 100 values are 50 zeros and 50 ones -> 0.5;
    # at index 199 only ones -> 1.0. A window of any other size gives different values there.
    values = [0.0] * 100 + [1.0] * 100
    ma = moving_average(values)
    assert ma.shape == (200,)
    assert ma[99] == 0.0 and ma[149] == pytest.approx(0.5) and ma[199] == 1.0


# --- episodes CSV ---------------------------------------------------------------------------------

RECORDS = [
    EpisodeRecord(1, 0, 11.0, 11, 168, 0.789),
    EpisodeRecord(2, 1, 500.0, 500, 4321, 12.5),
    EpisodeRecord(3, 0, -3.25, 7, 4400, 13.0),
]


def test_episodes_csv_round_trips(tmp_path):
    path = RunFiles(tmp_path, "CartPole-v1").episodes_csv
    write_episodes_csv(path, RECORDS)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["episode", "worker", "return", "length", "global_step", "wall_time"]
    assert tuple(rows[0]) == CSV_HEADER
    read_back = [EpisodeRecord(int(e), int(w), float(r), int(n), int(g), float(t)) for e, w, r, n, g, t in rows[1:]]
    assert read_back == RECORDS  # every value above is exact in the CSV's number formats
    assert temp_leftovers(tmp_path) == []


def test_episodes_csv_writes_whole_returns_without_decimals(tmp_path):
    # CartPole returns are step counts: "11", not "11.0", so the column reads as what it is.
    path = tmp_path / "e.csv"
    write_episodes_csv(path, RECORDS[:2])
    lines = path.read_text().splitlines()
    assert lines[1].split(",")[2:4] == ["11", "11"]
    assert lines[2].split(",")[2:4] == ["500", "500"]


def test_empty_episode_log_is_just_the_header(tmp_path):
    path = tmp_path / "e.csv"
    write_episodes_csv(path, [])
    assert path.read_text().splitlines() == [",".join(CSV_HEADER)]


def test_rewriting_the_csv_replaces_it_whole(tmp_path):
    path = tmp_path / "e.csv"
    write_episodes_csv(path, RECORDS)
    write_episodes_csv(path, RECORDS[:1])
    assert len(path.read_text().splitlines()) == 2  # header + one row: no stale rows from the longer log


# --- the plot ---------------------------------------------------------------------------------------------


@pytest.fixture
def saved_figures(monkeypatch):
    """Every matplotlib Figure saved while the test runs (still written to its file as usual)."""
    import matplotlib.figure

    figures = []
    real_savefig = matplotlib.figure.Figure.savefig

    def keep_and_save(self, *args, **kwargs):
        figures.append(self)
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep_and_save)
    return figures


def plotted_episodes(returns):
    return [EpisodeRecord(i + 1, i % 2, r, int(r), 10 * (i + 1), 0.1 * i) for i, r in enumerate(returns)]


def test_plot_draws_each_return_their_100_episode_moving_average_and_the_threshold(tmp_path, saved_figures):
    # 150 returns that climb in steps of 10 every 30 episodes, with a wobble: 0-29 -> 10..16, 30-59 -> 20..26, ...
    returns = [float(10 * (i // 30 + 1) + i % 7) for i in range(150)]
    path = RunFiles(tmp_path, "CartPole-v1").plot
    write_plot(path, plotted_episodes(returns), "CartPole-v1", 475.0, solved_at_episode=120)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (figure,) = saved_figures
    (axes,) = figure.axes
    lines = [(list(line.get_xdata()), [float(y) for y in line.get_ydata()]) for line in axes.get_lines()]
    episodes = list(range(1, 151))
    # the mean of the last 100 returns at each episode (of all of them before the 100th), by a plain loop
    window_means = [sum(returns[max(0, i - 99) : i + 1]) / len(returns[max(0, i - 99) : i + 1]) for i in range(150)]
    assert (episodes, returns) in lines
    assert any(xs == episodes and ys == pytest.approx(window_means) for xs, ys in lines)
    assert ([0, 1], [475.0, 475.0]) in lines  # horizontal across the axes at the threshold
    assert ([120, 120], [0, 1]) in lines  # vertical at the episode the greedy policy passed
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert any("moving average" in t for t in legend) and any("475" in t for t in legend)


def test_plot_of_an_env_without_threshold_draws_no_threshold_line(tmp_path, saved_figures):
    write_plot(tmp_path / "p.png", plotted_episodes([1.0, 2.0, 3.0]), "Custom-v0", None)
    (figure,) = saved_figures
    horizontal = [line for line in figure.axes[0].get_lines() if list(line.get_xdata()) == [0, 1]]
    assert horizontal == [] and len(figure.axes[0].get_lines()) == 2  # the returns and their average
