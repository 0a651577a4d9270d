"""The solved checks as a side job: looks at the global model, in the evaluation process, while training goes on.

`SolvedCheck` (evaluation/solved_check.py) decides when a look is worth its cost and keeps what the
looks found; this job takes the weights when one is due, hands the check to the evaluation process
(or runs it here, for an env no other process can make), takes its answer when it comes, logs it,
and stops the run when it is solved.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from a3c_cartpole.a3c.global_model import GlobalModel
from a3c_cartpole.a3c.ledger import EpisodeLedger
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.making import EnvFailed
from a3c_cartpole.evaluation.solved_check import (
    GATE_EPISODES,
    Evaluation,
    Look,
    SolvedCheck,
    run_check,
)
from a3c_cartpole.parallel.evaluation_process import EvaluationProcess, EvaluationProcessFailed
from a3c_cartpole.training.failures import failure_line, report_failure
from a3c_cartpole.training.progress import ProgressPrinter
from a3c_cartpole.training.side_jobs import SideJob, Tick
from a3c_cartpole.training.tensorboard_log import TrainingBoard


class SolvedChecks(SideJob):
    """Submits a look when one is due, takes its answer, and stops the run once it is solved."""

    def __init__(
        self,
        config: TrainConfig,
        check: SolvedCheck,
        evaluator: EvaluationProcess,
        shared: GlobalModel,
        ledger: EpisodeLedger,
        board: TrainingBoard,
        progress: ProgressPrinter,
        workers_failed: Callable[[], Any],
    ) -> None:
        """`workers_failed`: the first worker failure, if any (the final model is not judged after one)."""
        self.config, self.check, self.evaluator, self.shared = config, check, evaluator, shared
        self.workers_failed = workers_failed
        self.ledger, self.board, self.progress = ledger, board, progress
        self.failure: Exception | None = None
        """Why the checks could not go on (their process died, or a check raised): the run stops, saves
        what it learned, and then exits 1 saying why."""
        self.failed_in: str | None = None
        """Where: "the solved check", "the final evaluation"; None when the evaluation process died."""

    def wait(self, seconds: float) -> None:
        """Wait one poll, cut short by a check's answer (taken at once) or by a stop (the run ends at
        once, not a poll later: the solved check's pass is a run's last wait)."""
        if self.evaluator.busy:
            self._take_answer(timeout=seconds)
        else:
            self.ledger.wait_for_stop(seconds)

    def on_tick(self, tick: Tick) -> None:
        idle = not self.evaluator.busy and not self.ledger.stopping
        if not (idle and self.check.due(self.ledger.recent_mean(GATE_EPISODES), len(tick.episodes), tick.steps)):
            return
        look = Look(self.shared.snapshot(), len(tick.episodes), tick.steps, tick.seconds)
        if self.check.registration is not None:
            self._alive(self.evaluator.submit, run_check, (self.check.request(look.policy),), look)
        else:  # an env no other process can make (defined in __main__): look here, meanwhile idle
            result = self._alive(self.check.evaluate, look.policy)
            if result is not None:
                self._record(look, result)

    def settle(self) -> None:
        """Take the answer of the check in flight, if any: it may be the one that passes (a second at most)."""
        self._take_answer(timeout=None)

    def on_end(self, end: Tick) -> None:
        """The final model may beat every evaluated one: judge it too, unless checks or workers failed (an
        env that raised there may raise again). An env failing now is reported once the files are saved."""
        if self.check.solved_at is None and self.failure is None and self.workers_failed() is None:
            policy = self.shared.snapshot()
            try:
                result = self.check.evaluate(policy)
            except EnvFailed as err:
                self.failure, self.failed_in = err, "the final evaluation"
                return
            self._record(Look(policy, len(end.episodes), end.steps, end.seconds), result)

    def _take_answer(self, timeout: float | None) -> None:
        answer = self._alive(self.evaluator.collect, timeout)
        if answer is not None:
            (outcome, seconds), look = answer  # run_check's CheckOutcome, as the process timed it
            self._record(look, self.check.finish(outcome.returns, outcome.confirmed, seconds))

    def _record(self, look: Look, result: Evaluation) -> None:
        """Log an evaluation, announce a new best, and stop the run if it is solved (or solved again)."""
        solved_before = self.check.solved_at is not None
        self.board.evaluation(result.mean, result.std, look.step)
        if self.check.record(look, result):
            verdict = "solved" if result.solved else "new best"
            self.progress.message(
                f"  eval at episode {look.episode:,}, step {look.step:,}: {result.described()} ({verdict})"
            )
        if result.solved and not solved_before:
            if self.config.early_stop:
                self.ledger.request_stop("solved")
        elif result.solved and self.config.stop_when_solved_again:
            self.progress.message(f"Solved again at episode {look.episode:,}: stopping.")
            self.ledger.request_stop("solved again")

    def _alive(self, call: Callable, *args) -> Any:
        """`call(*args)` on the evaluation process. If the process died, or the check raised there (a
        user's env can), stop the run and return None: the run saves what it learned, as after a
        worker's failure."""
        try:
            return call(*args)
        except Exception as err:  # EvaluationProcessFailed, or whatever the check raised (EnvFailed)
            where = None if isinstance(err, EvaluationProcessFailed) else "the solved check"
            self.failure, self.failed_in = err, where
            self.ledger.request_stop(failure_line(where, err))
            return None

    def report(self, stop_reason: str, log: Path) -> str | None:
        """The checks' failure in one line (its traceback in `log`), if it counts: an env's always, the
        evaluation process dying only if that ended the run (after a stop signal, it did not)."""
        err, where = self.failure, self.failed_in
        if err is None or not (isinstance(err, EnvFailed) or stop_reason == failure_line(where, err)):
            return None
        return report_failure(where, err, log)
