"""The master: builds the global model, starts the workers, watches them, and writes the outputs.

Data flow of a run: config -> env check -> global model + optimizer -> workers (each: envs,
local weights, rollouts, loss, gradient push) -> ledger of episodes -> solved check -> files.

While the workers train, the master's loop polls them and calls its side jobs (solved checks,
progress, TensorBoard, checkpoints; training/side_jobs.py) with what it saw; when they stop, it
calls the jobs once more for the run's last files, and returns what the run achieved.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from typing import TextIO

import keras
import numpy as np

from a3c_cartpole.a3c.global_model import GlobalModel
from a3c_cartpole.a3c.ledger import EpisodeLedger
from a3c_cartpole.config import TrainConfig, WorkerFailed
from a3c_cartpole.envs.spec import EnvInfo, describe_env
from a3c_cartpole.evaluation.solved_check import Evaluation, SolvedCheck
from a3c_cartpole.networks.build import build_model
from a3c_cartpole.networks.spec import network_for
from a3c_cartpole.parallel.evaluation_process import EvaluationProcess
from a3c_cartpole.parallel.workers import WorkerGroup, make_workers
from a3c_cartpole.playback.saved_policy import weights_file_bytes
from a3c_cartpole.training.checkpoints import RunState, TrainingCheckpoints
from a3c_cartpole.training.failures import report_failure
from a3c_cartpole.training.outputs import DiskReserve, RunFiles, WriteFailed, write_json
from a3c_cartpole.training.progress import ProgressPrinter, budget_words, opening_lines
from a3c_cartpole.training.result import TrainResult, run_record, summary, train_result
from a3c_cartpole.training.save_dir import claim_save_dir, ensure_writable
from a3c_cartpole.training.side_jobs import (
    RECORD_ROOM,
    Checkpointing,
    FinalWeights,
    LogToTensorBoard,
    Plot,
    ShowProgress,
    SideJob,
    Tick,
)
from a3c_cartpole.training.solved_checks import SolvedChecks
from a3c_cartpole.training.stop_signals import StopSignals, signal_words
from a3c_cartpole.training.tensorboard_log import TrainingBoard, run_settings, tensorboard_dir

# How often the master looks at the workers.
POLL_SECONDS = 0.05


def seed_everything(seed: int) -> None:
    """Python, numpy and TensorFlow (weight init); envs and action sampling get their own seeds."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


class MasterAgent:
    """Runs one A3C training run as configured."""

    def __init__(self, config: TrainConfig, progress: TextIO | None = None, info: EnvInfo | None = None) -> None:
        """`progress`: where live progress goes (stdout by default; stderr when stdout carries JSON).
        `info`: the env as already checked, if it was (making an env to look at it is not free)."""
        self.config = config
        checked = info or describe_env(config.env_id, config.env_kwargs, config.env_package)
        self.info = checked.judged_at(config.target_score)
        ensure_writable(config.save_dir)
        self.files = RunFiles(config.save_dir, config.env_id)
        self.seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(3), "little")
        self.progress = ProgressPrinter(config.verbose, progress)
        self.workers: WorkerGroup | None = None
        self.reserve: DiskReserve | None = None
        self.write_failure: WriteFailed | None = None  # the first write that failed (a full disk)

    def train(self) -> TrainResult:
        """Train holding the save dir's lock, with SIGTERM and SIGHUP stopping the run as Ctrl-C does."""
        with claim_save_dir(self.config), StopSignals() as signals:
            try:
                return self._train(signals)
            finally:  # a failure before the workers started leaves their rollout processes waiting
                if self.workers is not None:
                    self.workers.close_unstarted()
                if self.reserve is not None:
                    self.reserve.release()

    def _train(self, signals: StopSignals) -> TrainResult:
        config, info, files = self.config, self.info, self.files
        seed_everything(self.seed)
        ledger = EpisodeLedger(config.max_eps, config.max_steps)
        shared = GlobalModel(
            build_model(network_for(config, info)),
            config,
            lambda: ledger.steps,
        )
        checkpoints = TrainingCheckpoints(config, info, shared, self.seed)
        resumed, old_episodes = checkpoints.resume(files) if config.resume else (checkpoints.state, [])
        check = SolvedCheck(info, config.eval_episodes, config.eval_every)
        # Ray connects here: a bad address must fail first...
        workers = self.workers = make_workers(
            config, info, self.seed, shared, ledger, check.registration, self.progress.message
        )
        if not config.resume:  # ...before --overwrite removes the earlier run (the lock refused a fresh start over one)
            files.remove()
        checkpoints.apply(resumed, old_episodes, ledger, check, workers)
        if not config.resume:  # from now on a run killed at any moment can be resumed
            checkpoints.save(ledger, check, workers, 0.0)
        # room for both weights files and the run record, should the disk fill up
        self.reserve = DiskReserve(files.reserve, 2 * len(weights_file_bytes(shared.model)) + RECORD_ROOM)
        board = TrainingBoard(tensorboard_dir(config.save_dir, config.env_id), len(old_episodes), resumed.steps)
        board.settings(run_settings(config, self.seed, resumed_at_episode=len(old_episodes)), step=resumed.steps)
        self._announce(resumed, checkpoints, check)

        ledger.start_time = time.perf_counter() - resumed.seconds  # a resumed run's clock continues
        self.progress.start(resumed.steps)
        evaluator = EvaluationProcess()
        try:
            checks = SolvedChecks(config, check, evaluator, shared, ledger, board, self.progress, workers.failure)
            jobs = [  # at the end, in this order: the final judgement, then the weights before anything larger
                checks,
                FinalWeights(shared, check, info, files, self.reserve),
                Plot(evaluator, files, info, check),
                Checkpointing(checkpoints, ledger, check, workers, files),
                LogToTensorBoard(board, workers, shared),
                ShowProgress(self.progress, ledger, check),
            ]
            interrupted_by = self._watch(workers, ledger, checks, jobs, signals)
            checks.settle()
            end = Tick.of(ledger)
            checks_seconds = check.seconds  # while training ran (a last judgement of the final model may follow)
            try:
                for job in jobs:
                    job.on_end(end)
                for job in jobs:
                    job.close()
            except WriteFailed as err:  # the rest is skipped; the run record still says what happened, and
                self.write_failure = self.write_failure or err  # tells --play the network's shape
        finally:  # whatever happened, the evaluation process ends with the run
            evaluator.close()
        result = train_result(end, ledger, check, resumed.seed, files, interrupted_by)
        timeline = _timeline(ledger, check, checks_seconds)
        self.reserve.release()  # the record's room
        failure = self._failure(workers, checks, result) or (self.write_failure and str(self.write_failure))
        record = run_record(config, shared.model.spec, result, shared.updates, timeline, failure)
        write_json(files.run_record, {**record, "segment_seeds": checkpoints.state.segment_seeds})
        if self.write_failure is not None:
            raise self.write_failure
        if failure is not None:
            raise WorkerFailed(f"{failure}; what was learned is saved in {files.save_dir}")
        self.progress.message(summary(result))
        return result

    def _watch(
        self,
        workers: WorkerGroup,
        ledger: EpisodeLedger,
        checks: SolvedChecks,
        jobs: list[SideJob],
        signals: StopSignals,
    ) -> int | None:
        """Run the workers to the end, calling every side job at each poll.

        Returns the signal that stopped the run, if one did.
        """
        try:
            workers.start()
            while not ledger.stopping and workers.running():
                received = signals.received
                if received is not None:  # noted by the handler, acted on here: never mid-write
                    ledger.request_stop(f"interrupted by {signal_words(received)}")
                    self.progress.message("Interrupted: stopping the workers and saving what was learned...")
                    return received
                checks.wait(POLL_SECONDS)
                tick = Tick.of(ledger)
                try:
                    for job in jobs:
                        job.on_tick(tick)
                except WriteFailed as err:  # a full disk: stop, and save the weights (small) before anything else
                    self.write_failure = err
                    ledger.request_stop(str(err))
        finally:  # whatever ended the loop, no worker outlives it
            ledger.request_stop("the master stopped")
            workers.join()
        return None

    def _announce(self, resumed: RunState, checkpoints: TrainingCheckpoints, check: SolvedCheck) -> None:
        """The banner: what trains, how, and where a resumed run stands."""
        config = self.config
        if config.backend == "processes" and check.registration is None:  # no other process can make the env
            config = dataclasses.replace(config, backend="threads", gradients="learner")  # what make_workers did
        for line in opening_lines(config, self.info, resumed.seed):  # the run's seed, kept by every resume
            self.progress.message(line)
        if config.resume:
            for skipped in checkpoints.skipped:
                self.progress.message(f"Skipped checkpoint {skipped}")
            self.progress.message(
                f"Resuming from {checkpoints.resumed_from}: episode {resumed.episodes:,}, "
                f"{resumed.steps:,} env steps, {resumed.updates:,} updates, {resumed.seconds:.1f} s trained; "
                f"this segment's envs and sampling are seeded with {self.seed}"
            )
        if check.solved_at is not None:
            self.progress.message(_resuming_solved_run(config, check.solved_at.episode, check.best))

    def _failure(self, workers: WorkerGroup, checks: SolvedChecks, result: TrainResult) -> str | None:
        """What made the run fail, in one line, its traceback written to the error log; None if nothing did.

        A worker's failure (or its env's) always counts; the checks' as `SolvedChecks.report` says."""
        failure = workers.failure()
        if failure is not None:
            return report_failure(f"worker {failure.worker}", failure.error, self.files.error_log)
        return checks.report(result.stop_reason, self.files.error_log)


def _timeline(ledger: EpisodeLedger, check: SolvedCheck, evaluation_seconds: float) -> dict:
    """The run record's timeline (see `run_record`); `evaluation_seconds`: the checks' while training ran."""
    return {
        "first_env_step": ledger.first_step_at,
        "solved_check_passed": check.passed_at,
        "files_written": time.time(),  # the run record, written next, is the last file
        "evaluation_seconds": evaluation_seconds,
    }


def _resuming_solved_run(config: TrainConfig, solved_at_episode: int, best: Evaluation | None) -> str:
    """Why a resumed solved run keeps training, and until when."""
    budget = budget_words(config)
    score = "" if best is None else f" (best greedy mean {best.mean:.1f} ± {best.std:.1f})"
    if config.stop_when_solved_again:
        plan = f"training on until the solved check passes again, or to the budget ({budget})"
    else:
        plan = (
            f"training on to the budget ({budget}) with early stopping off; "
            "add --stop-when-solved-again to stop at the next passed solved check"
        )
    return f"This run was solved at episode {solved_at_episode:,}{score}: {plan}."
