"""scripts/benchmark.py's bookkeeping: the figures the README's tables are copied from.

Its runs are minutes long and belong to no test; what is tested is what turns their figures into
the table (which seed counts, the medians, the stored runs kept between sittings, the curves' grid),
with values worked out by hand.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def bench():
    """The script as a module of its own name (`benchmark` alone could shadow another); it imports its
    neighbour sb3_baseline, so scripts/ is on the path while it loads."""
    spec = importlib.util.spec_from_file_location("a3c_benchmark_script", SCRIPTS / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def row(solved: bool, verified: float, steps: int = 1000, wall: float = 1.0) -> dict:
    return {"solved": solved, "verified": verified, "steps": steps, "wall": wall, "sps": 100.0}


def test_seeds_as_a_range_a_list_or_none_but_the_stored(bench) -> None:
    assert bench.parse_seeds("0-3") == [0, 1, 2, 3]
    assert bench.parse_seeds("7") == [7]
    assert bench.parse_seeds("0,3,5") == [0, 3, 5]
    assert bench.parse_seeds("stored") == []


def test_a_lucky_pass_is_not_counted_nor_an_agent_that_never_passed(bench) -> None:
    assert bench.verified(row(True, 200.0), 200.0)
    assert not bench.verified(row(True, 199.3), 200.0)  # passed its check, falls short on fresh episodes
    assert not bench.verified(row(False, 223.0), 200.0)  # good enough, but the run never said so
    assert not bench.verified(row(True, 9.0), None)  # a game: no threshold, nothing is solved


def test_summary_counts_verified_seeds_and_takes_medians_and_worst_cases(bench) -> None:
    rows = {
        0: row(True, 250.0, steps=100, wall=10.0),
        1: row(True, 199.3, steps=300, wall=30.0),
        2: row(False, 120.0, steps=2000, wall=40.0),
        3: row(True, 270.0, steps=200, wall=20.0),
    }
    s = bench.summarise(rows, 200.0)
    assert (s["verified"], s["seeds"]) == (2, 4)
    assert s["median_steps"] == 250  # (200 + 300) / 2
    assert s["worst_steps"] == 2000
    assert s["median_wall"] == 25.0
    assert s["median_verified"] == pytest.approx(224.65)  # (199.3 + 250) / 2
    assert s["worst_verified"] == 120.0
    assert bench.markdown_row("LunarLander-v3", "ours", s) == (
        "| LunarLander-v3 | ours | 2/4 | 250 | 2,000 | 25.0 | 224.7 (worst 120.0) |"
    )
    # a small threshold keeps two decimals: agents at 0.87 and 0.89 against 0.85 are not all "0.9"
    small = bench.summarise({0: row(True, 0.87, steps=100, wall=1.0), 1: row(True, 0.89, steps=300, wall=3.0)}, 0.85)
    assert bench.markdown_row("FrozenLake8x8-v1", "ours", small).endswith("| 0.88 (worst 0.87) |")


def test_a_curve_holds_the_latest_evaluation_at_each_step(bench) -> None:
    grid = np.array([0, 50, 100, 150, 400])
    values = bench.curve_on_grid([(100, 1.0), (200, 3.0)], grid)
    np.testing.assert_array_equal(values[:2], [np.nan, np.nan])  # before the first evaluation
    np.testing.assert_array_equal(values[2:], [1.0, 1.0, 3.0])  # a solved run keeps its last one
    assert np.isnan(bench.curve_on_grid([], grid)).all()


def test_stored_runs_fill_the_seeds_a_sitting_did_not_run_and_a_rerun_replaces_its_seed(bench, tmp_path) -> None:
    path = tmp_path / "runs.json"
    first = bench.RunStore(path)
    for seed, value in ((0, 210.0), (1, 220.0), (2, 230.0)):
        first.keep("LunarLander-v3", "ours", seed, row(True, value))
    first.keep("LunarLander-v3", "ours --lr 1.6e-3", 0, row(True, 999.0))  # other flags: kept apart

    later = bench.RunStore(path)  # the next sitting reads what the first wrote
    merged = bench.with_earlier(later, "LunarLander-v3", "ours", {1: row(False, 150.0)})
    assert list(merged) == [0, 1, 2]
    assert [merged[s]["verified"] for s in (0, 1, 2)] == [210.0, 150.0, 230.0]

    later.keep("LunarLander-v3", "ours", 1, row(False, 150.0))
    again = bench.RunStore(path)
    assert again.earlier("LunarLander-v3", "ours", skip=[])[1]["verified"] == 150.0
    assert again.earlier("LunarLander-v3", "ours", skip=[0, 2]) == {1: row(False, 150.0)}
    assert bench.RunStore(None).earlier("LunarLander-v3", "ours", skip=[]) == {}
