"""The worker group the master drives, the one seed scheme of every backend, and the helpers' serve loop."""

from __future__ import annotations

import io
import pickle
import threading
import types

from a3c_cartpole.a3c.ledger import EpisodeLedger
from a3c_cartpole.parallel import child_process
from a3c_cartpole.parallel.workers import ThreadWorkers, WorkerFailure, worker_seeds


def test_each_worker_gets_a_block_of_env_seeds_and_its_own_sampling_stream():
    assert [worker_seeds(7, i) for i in range(3)] == [(10_007, [7, 0]), (20_007, [7, 1]), (30_007, [7, 2])]


def fake_worker(worker_id: int, resume_state: dict, error: BaseException | None = None, stopped_the_run=False):
    return types.SimpleNamespace(
        worker_id=worker_id,
        rollouts=types.SimpleNamespace(resume_state=resume_state),
        error=error,
        stopped_the_run=stopped_the_run,
        last_stats=None,
    )


def test_thread_workers_give_back_their_sampling_states_only_to_as_many_workers():
    workers = ThreadWorkers([fake_worker(0, {"s": 1}), fake_worker(1, {"s": 2})])
    assert workers.resume_states() == [{"s": 1}, {"s": 2}]
    workers.restore_resume_states([{"s": 3}])  # saved by a run with another worker count: ignored
    assert workers.resume_states() == [{"s": 1}, {"s": 2}]
    workers.restore_resume_states([{"s": 3}, {"s": 4}])
    assert workers.resume_states() == [{"s": 3}, {"s": 4}]


def test_the_failure_reported_is_the_one_that_stopped_the_run():
    crash, later = RuntimeError("crash"), RuntimeError("later")
    # two workers failed at once: the one whose failure the ledger took as the stop reason is reported
    first = ThreadWorkers([fake_worker(0, {}, later), fake_worker(1, {}, crash, stopped_the_run=True)])
    assert first.failure() == WorkerFailure(1, crash)
    # a failure after another stop (the budget, a signal): the first failed worker in order
    workers = ThreadWorkers([fake_worker(0, {}), fake_worker(1, {}, crash), fake_worker(2, {}, later)])
    assert workers.failure() == WorkerFailure(1, crash)
    assert ThreadWorkers([fake_worker(0, {})]).failure() is None


def test_the_ledger_says_whose_stop_reason_it_kept():
    ledger = EpisodeLedger(max_eps=10, max_steps=None)
    assert ledger.request_stop("worker 1 failed: crash") is True
    assert ledger.request_stop("worker 0 failed: later") is False
    assert ledger.stop_reason == "worker 1 failed: crash"


def test_the_serve_loop_answers_each_request_and_sends_what_cannot_be_pickled_as_text():
    requests, answers = io.BytesIO(), io.BytesIO()
    for message in (2, "lock", 5):
        pickle.dump(message, requests)
    requests.seek(0)

    def handle(request):
        return threading.Lock() if request == "lock" else request * 10  # a lock cannot be pickled

    child_process.serve(requests, answers, handle, lambda answer: f"unreadable {type(answer).__name__}")
    answers.seek(0)
    assert [pickle.load(answers) for _ in range(3)] == [20, "unreadable lock", 50]
