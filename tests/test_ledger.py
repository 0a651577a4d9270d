"""EpisodeLedger under concurrency: exact episode budget, nothing lost or counted twice (SPEC defect 5)."""

import sys
import threading

import pytest

from a3c_cartpole.a3c import ledger as ledger_module
from a3c_cartpole.a3c.ledger import EpisodeLedger, EpisodeRecord
from a3c_cartpole.a3c.rollout import FinishedEpisode

THREADS = 8
MAX_EPS = 1000
RUNS = 20  # each run takes a few ms; chance decides the interleavings (the forced one is tested below)
GIVE_UP = 10_000  # reports per thread before concluding the ledger never says stop


def tag(worker: int, k: int) -> float:
    """A return that names its submitter: worker w's k-th episode (exact in float64)."""
    return float(worker * 1_000_000 + k)


def concurrent_run():
    """8 threads, like workers, report 3-step vector steps with 0, 1 or 2 episodes (i % 3) until the
    ledger says stop."""
    ledger = EpisodeLedger(MAX_EPS, None)
    barrier = threading.Barrier(THREADS)
    submitted = {w: [] for w in range(THREADS)}
    answers = {w: [] for w in range(THREADS)}

    def work(worker: int) -> None:
        barrier.wait()
        k = 0
        for i in range(GIVE_UP):
            batch = []
            for _ in range(i % 3):
                batch.append(FinishedEpisode(tag(worker, k), k % 50 + 1))
                k += 1
            submitted[worker].append(batch)
            answers[worker].append(ledger.report(worker, 3, batch))
            if not answers[worker][-1]:
                break

    threads = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ledger, submitted, answers


@pytest.fixture(scope="module")
def runs():
    """RUNS independent concurrent runs, with thread switches forced often so that reports interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        return [concurrent_run() for _ in range(RUNS)]
    finally:
        sys.setswitchinterval(interval)


def test_reports_from_several_workers_interleave(runs):
    # Guard on the setup itself: without interleaving the other tests would prove nothing.
    assert max(len({e.worker for e in ledger.snapshot()[0]}) for ledger, _, _ in runs) >= 2


def test_episode_budget_is_exact_under_concurrency(runs):
    for ledger, _, _ in runs:
        episodes, _ = ledger.snapshot()
        assert len(episodes) == MAX_EPS
        assert [e.episode for e in episodes] == list(range(1, MAX_EPS + 1))


def test_every_recorded_episode_was_submitted_once_by_its_worker(runs):
    for ledger, submitted, _ in runs:
        episodes, _ = ledger.snapshot()
        offered = {e.episode_return: (w, e.length) for w, batches in submitted.items() for b in batches for e in b}
        returns = [e.episode_return for e in episodes]
        assert len(set(returns)) == len(returns)  # no episode counted twice
        for record in episodes:
            assert offered[record.episode_return] == (record.worker, record.length)


def test_each_worker_loses_nothing_before_the_stop(runs):
    # Before the budget is reached every offered episode is kept, after it none: so each worker's
    # recorded episodes are exactly the first m it offered, in the order it offered them.
    for ledger, submitted, _ in runs:
        episodes, _ = ledger.snapshot()
        for worker, batches in submitted.items():
            mine = [e.episode_return for e in episodes if e.worker == worker]
            offered = [e.episode_return for b in batches for e in b]
            assert mine == offered[: len(mine)]


def test_global_step_never_decreases_along_the_log(runs):
    for ledger, _, _ in runs:
        episodes, steps = ledger.snapshot()
        global_steps = [e.global_step for e in episodes]
        assert global_steps == sorted(global_steps)
        assert 0 < global_steps[-1] <= steps
        assert steps % 3 == 0  # only whole 3-step reports are counted


def test_budget_stop_is_reported_and_later_reports_are_refused(runs):
    for ledger, _, answers in runs:
        assert ledger.stopping
        assert "episode budget" in ledger.stop_reason
        assert f"{MAX_EPS:,}" in ledger.stop_reason
        # Every worker was told to stop, at its last report only: none ran to GIVE_UP.
        for worker_answers in answers.values():
            assert worker_answers[-1] is False
            assert all(worker_answers[:-1])
        _, steps = ledger.snapshot()
        assert ledger.report(0, 5, [FinishedEpisode(-1.0, 1)]) is False
        episodes, steps_after = ledger.snapshot()
        assert len(episodes) == MAX_EPS and steps_after == steps


def test_a_report_waits_while_another_worker_is_recording_the_last_episode(monkeypatch):
    """The interleaving a missing lock loses to, forced rather than hoped for.

    Budget 1. Worker 0 reports an episode and stops between the budget check and the append (the
    EpisodeRecord it builds there is the hook); only then does worker 1 report its own. With the lock,
    worker 1 waits at it until worker 0 has recorded episode 1 and stopped the run, then is refused.
    Without it, worker 1 passes the same check (nothing appended yet) and both episodes are kept.
    """
    ledger = EpisodeLedger(1, None)
    worker_1_arrived = threading.Event()  # asked for the lock, or got past the check without it
    real_lock = ledger._lock

    class WatchedLock:
        def __enter__(self):
            if threading.current_thread().name == "worker-1":
                worker_1_arrived.set()  # ...and now waits for worker 0 to leave
            return real_lock.__enter__()

        def __exit__(self, *exc):
            return real_lock.__exit__(*exc)

    ledger._lock = WatchedLock()
    answers = {}

    def report(worker: int, episode_return: float) -> None:
        answers[worker] = ledger.report(worker, 3, [FinishedEpisode(episode_return, 3)])

    worker_1 = threading.Thread(target=report, args=(1, 11.0), name="worker-1")

    def record_while_worker_1_reports(*fields):
        if threading.current_thread().name == "worker-0":
            worker_1.start()
            assert worker_1_arrived.wait(timeout=60), "worker 1 never reached the ledger"
        else:
            worker_1_arrived.set()  # got in while worker 0 is still inside
        return EpisodeRecord(*fields)

    monkeypatch.setattr(ledger_module, "EpisodeRecord", record_while_worker_1_reports)
    worker_0 = threading.Thread(target=report, args=(0, 10.0), name="worker-0")
    worker_0.start()
    worker_0.join()
    worker_1.join()

    episodes, steps = ledger.snapshot()
    assert [(e.episode, e.worker, e.episode_return) for e in episodes] == [(1, 0, 10.0)]
    assert answers == {0: False, 1: False}  # worker 0 spent the budget; worker 1 was refused
    assert steps == 3  # the refused report's steps are not counted either


def test_report_that_crosses_budget_keeps_only_the_episodes_needed():
    # Budget 4: 3 episodes, then a report of 3 more keeps only the first 1 (episode 4) and stops.
    ledger = EpisodeLedger(4, None)
    assert ledger.report(0, 10, [FinishedEpisode(1.0, 1), FinishedEpisode(2.0, 2), FinishedEpisode(3.0, 3)])
    assert not ledger.report(1, 10, [FinishedEpisode(4.0, 4), FinishedEpisode(5.0, 5), FinishedEpisode(6.0, 6)])
    episodes, steps = ledger.snapshot()
    assert [(e.episode, e.worker, e.episode_return) for e in episodes] == [
        (1, 0, 1.0),
        (2, 0, 2.0),
        (3, 0, 3.0),
        (4, 1, 4.0),
    ]
    assert [e.global_step for e in episodes] == [10, 10, 10, 20]
    assert steps == 20


def test_step_budget_stops_training():
    # max_steps 100 with 30-step reports: 30, 60, 90 continue; 120 >= 100 stops.
    ledger = EpisodeLedger(1000, 100)
    assert [ledger.report(0, 30, []) for _ in range(3)] == [True, True, True]
    assert not ledger.stopping
    assert ledger.report(0, 30, [FinishedEpisode(7.0, 7)]) is False
    assert ledger.stopping
    assert "step budget" in ledger.stop_reason and "100" in ledger.stop_reason
    episodes, steps = ledger.snapshot()
    assert steps == 120
    assert [(e.episode_return, e.global_step) for e in episodes] == [(7.0, 120)]


def test_first_stop_reason_wins():
    ledger = EpisodeLedger(1, None)
    ledger.request_stop("interrupted")
    assert ledger.report(0, 1, [FinishedEpisode(1.0, 1)]) is False
    assert ledger.stop_reason == "interrupted"
    assert ledger.snapshot() == ([], 0)


def test_recent_mean_averages_last_n_returns():
    # Returns 1, 2, 3, 4: mean of last 2 = 3.5, of last 10 (all) = 2.5; empty ledger -> None.
    ledger = EpisodeLedger(10, None)
    assert ledger.recent_mean(2) is None
    ledger.report(0, 4, [FinishedEpisode(float(r), 1) for r in (1, 2, 3, 4)])
    assert ledger.recent_mean(2) == pytest.approx(3.5)
    assert ledger.recent_mean(10) == pytest.approx(2.5)


def test_waiting_for_a_stop_wakes_when_the_budget_is_spent_and_not_before():
    # The master waits on the ledger between polls; the worker that spends the last episode of the
    # budget must wake it (the wait would otherwise end after a minute, returning False).
    ledger = EpisodeLedger(2, None)
    assert ledger.wait_for_stop(0.0) is False
    ledger.report(0, 1, [FinishedEpisode(1.0, 1)])
    assert ledger.wait_for_stop(0.0) is False  # one episode of two: not yet
    spender = threading.Thread(target=ledger.report, args=(1, 1, [FinishedEpisode(2.0, 1)]))
    spender.start()
    assert ledger.wait_for_stop(60.0) is True
    spender.join()
    assert ledger.stop_reason is not None and [e.episode_return for e in ledger.episodes] == [1.0, 2.0]
