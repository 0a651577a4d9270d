"""The evaluation process: checks and the plot run in a child, answers and failures come back."""

from __future__ import annotations

import numpy as np
import pytest

from a3c_cartpole.envs import describe_env
from a3c_cartpole.evaluation import SolvedCheck, run_check
from a3c_cartpole.evaluation_process import EvaluationProcess
from a3c_cartpole.ledger import EpisodeRecord
from a3c_cartpole.outputs import write_plot


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
