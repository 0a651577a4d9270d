"""The evaluation process: checks and the plot run in a child, answers and failures come back."""

from __future__ import annotations

import os
import pickle
import select
import threading

import numpy as np
import pytest

from a3c_cartpole.a3c.ledger import EpisodeRecord
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.evaluation.solved_check import SolvedCheck, run_check
from a3c_cartpole.parallel.evaluation_process import EvaluationProcess
from a3c_cartpole.training.outputs import write_plot
from a3c_cartpole.training.stop_signals import STOP_SIGNALS


@pytest.fixture
def child():
    process = EvaluationProcess()
    yield process
    process.close()


def test_a_check_in_the_child_plays_the_same_episodes_as_one_played_here(child, make_fixed_policy):
    info = describe_env("CartPole-v1")
    request = SolvedCheck(info, episodes=5).request(make_fixed_policy(4, [0.0, 0.3], 1.0))
    child.submit(run_check, (request,), "context")
    (returns_and_confirmed, seconds), context = child.collect(timeout=60)
    returns, confirmed = returns_and_confirmed
    here, confirmed_here = run_check(request)  # the same seeds, in this process
    np.testing.assert_array_equal(returns, here)
    assert confirmed is confirmed_here is False and context == "context" and seconds > 0


def test_a_tasks_exception_is_raised_in_the_parent_and_the_child_serves_on(child, tmp_path):
    episodes = [EpisodeRecord(1, 0, 10.0, 10, 10, 0.1)]
    no_such_dir = tmp_path / "missing" / "plot.png"
    child.submit(write_plot, (no_such_dir, episodes, "CartPole-v1", 475.0), None)
    with pytest.raises(OSError):
        child.collect(timeout=60)
    assert not child.busy
    child.submit(write_plot, (tmp_path / "plot.png", episodes, "CartPole-v1", 475.0), None)
    child.collect(timeout=60)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("stop_signal", STOP_SIGNALS, ids=[s.name for s in STOP_SIGNALS])
def test_the_child_outlives_a_stop_signal_that_the_parent_turns_into_a_graceful_stop(child, tmp_path, stop_signal):
    episodes = [EpisodeRecord(1, 0, 10.0, 10, 10, 0.1)]
    child.submit(write_plot, (tmp_path / "first.png", episodes, "CartPole-v1", 475.0), None)
    child.collect(timeout=60)  # the child is up and serving (its handlers are set by then)
    child._child.send_signal(stop_signal)  # a terminal, `timeout` or a scheduler signals the whole group
    child.submit(write_plot, (tmp_path / "plot.png", episodes, "CartPole-v1", 475.0), None)
    child.collect(timeout=60)
    assert (tmp_path / "plot.png").is_file()


def test_with_the_child_gone_the_master_is_told_to_draw_the_plot_itself(child, tmp_path):
    from a3c_cartpole.training.side_jobs import plot_drawn as _plot_drawn
    from a3c_cartpole.training.side_jobs import submit_plot as _submit_plot

    episodes = [EpisodeRecord(1, 0, 10.0, 10, 10, 0.1)]
    plot = (tmp_path / "plot.png", episodes, "CartPole-v1", 475.0)
    child._child.kill()
    child._child.wait()
    assert _submit_plot(child, plot) is False  # its pipe is closed
    child.busy = True  # as if the plot had been handed over just before the child died
    assert _plot_drawn(child) is False


def test_checks_are_answered_while_the_plot_warms_up_and_the_plot_waits_for_the_warm_up(monkeypatch, tmp_path):
    # serve() in a thread of this process, over pipes, with a warm-up that lasts until it is released.
    import a3c_cartpole.parallel.evaluation_process as module

    release, warmed_up = threading.Event(), threading.Event()

    def held_warm_up():
        release.wait(timeout=60)
        warmed_up.set()

    monkeypatch.setattr(module, "warm_up_plotting", held_warm_up)
    requests_read, requests_write = os.pipe()
    answers_read, answers_write = os.pipe()
    with (
        open(requests_read, "rb") as requests,
        open(requests_write, "wb") as to_child,
        open(answers_read, "rb") as from_child,
        open(answers_write, "wb") as answers,
    ):
        server = threading.Thread(target=module.serve, args=(requests, answers), daemon=True)
        server.start()
        pickle.dump((len, ([1, 2, 3],)), to_child)  # a task that is no plot: answered at once
        to_child.flush()
        assert pickle.load(from_child)[:2] == (True, 3)
        assert not warmed_up.is_set()
        episodes = [EpisodeRecord(1, 0, 10.0, 10, 10, 0.1)]
        pickle.dump((write_plot, (tmp_path / "plot.png", episodes, "CartPole-v1", 475.0)), to_child)
        to_child.flush()
        waiting, _, _ = select.select([from_child], [], [], 1.0)
        assert not waiting  # the plot waits for the warm-up (pyplot is not thread-safe)...
        release.set()
        assert pickle.load(from_child)[0] is True  # ...and is drawn once it is over
        assert warmed_up.is_set() and (tmp_path / "plot.png").exists()
        to_child.close()  # the end of the requests ends serve(): only then may its pipe be closed
        server.join(timeout=30)
        assert not server.is_alive()


def test_the_child_leaves_nothing_in_the_temp_dir_when_it_ends_during_the_plots_warm_up(monkeypatch, tmp_path):
    # The child ends with os._exit, which skips every cleanup: a warm-up still drawing then must not
    # have put anything on disk (it once left an empty a3c-warm-up-* dir per run in /tmp).
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))  # not a temp dir of matplotlib's own
    process = EvaluationProcess()
    try:
        process.submit(len, ([1, 2, 3],), None)  # the child is serving, so its warm-up thread has started
        assert process.collect(timeout=60)[0][0] == 3
    finally:
        process.close()  # at once: matplotlib's import alone outlasts this
    assert list(scratch.iterdir()) == []
