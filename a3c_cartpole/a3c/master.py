"""The master: builds the global model, starts the workers, watches them, and writes the outputs.

Data flow of a run: config -> env check -> global model + optimizer -> workers (each: envs,
local weights, rollouts, loss, gradient push) -> ledger of episodes -> solved check -> files.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import time
from typing import TextIO

import keras
import numpy as np
from gymnasium.envs.registration import EnvSpec

from a3c_cartpole.a3c.global_model import GlobalModel
from a3c_cartpole.a3c.ledger import EpisodeLedger
from a3c_cartpole.a3c.rollout import make_collector
from a3c_cartpole.a3c.worker import Worker
from a3c_cartpole.config import TrainConfig, WorkerFailed
from a3c_cartpole.envs.making import EnvFailed
from a3c_cartpole.envs.spec import EnvInfo, describe_env
from a3c_cartpole.evaluation.solved_check import GATE_EPISODES, Evaluation, EvaluationPoint, SolvedCheck, run_check
from a3c_cartpole.networks.actor_critic import NumpyActorCritic, build_model
from a3c_cartpole.parallel.evaluation_process import EvaluationProcess, EvaluationProcessFailed
from a3c_cartpole.parallel.rollout_process import RolloutProcess
from a3c_cartpole.playback.saved_policy import save_weights, weights_file_bytes
from a3c_cartpole.training.checkpoints import TrainingCheckpoints
from a3c_cartpole.training.failures import failure_line, report_failure
from a3c_cartpole.training.outputs import (
    MOVING_AVERAGE_WINDOW,
    DiskReserve,
    RunFiles,
    WriteFailed,
    write_episodes_csv,
    write_json,
    write_plot,
)
from a3c_cartpole.training.progress import ProgressPrinter
from a3c_cartpole.training.save_dir import claim_save_dir, ensure_writable
from a3c_cartpole.training.stop_signals import StopSignals, signal_words
from a3c_cartpole.training.tensorboard_log import TrainingBoard, run_settings, tensorboard_dir

# How often the master looks at the workers, and rewrites the CSV while training.
POLL_SECONDS = 0.05
CSV_EVERY_SECONDS = 10.0
# Bytes kept on the disk for the run record (and an error log), beyond the two weights files.
RECORD_ROOM = 64 * 1024


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What a training run achieved, and where it put the files."""

    solved: bool
    episodes: int
    steps: int
    seconds: float
    stop_reason: str
    best_evaluation: Evaluation | None
    solved_at_episode: int | None
    solved_at_step: int | None
    solved_at_seconds: float | None
    training_moving_average: float | None
    seed: int
    files: RunFiles
    evaluations: list[EvaluationPoint] = dataclasses.field(default_factory=list)
    """Every greedy evaluation of the run, in order (a resumed run's earlier ones included)."""
    interrupted_by: int | None = None
    """The signal (SIGINT for Ctrl-C) that stopped the run, if one did."""

    def as_dict(self) -> dict:
        """The outcome, JSON-ready: the run record and `--train --json` report these fields."""
        best = self.best_evaluation
        return {
            "solved": self.solved,
            "solved_at_episode": self.solved_at_episode,
            "solved_at_step": self.solved_at_step,
            "solved_at_seconds": self.solved_at_seconds,
            "episodes": self.episodes,
            "steps": self.steps,
            "seconds": self.seconds,
            "stop_reason": self.stop_reason,
            "best_eval_mean": None if best is None else best.mean,
            "best_eval_std": None if best is None else best.std,
            "training_moving_average": self.training_moving_average,
            "seed": self.seed,
        }


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
        self.info = info or describe_env(config.env_id, config.env_kwargs, config.env_package)
        ensure_writable(config.save_dir)
        self.files = RunFiles(config.save_dir, config.env_id)
        self.seed = config.seed if config.seed is not None else int.from_bytes(os.urandom(3), "little")
        self.progress = ProgressPrinter(config.verbose, progress)
        self.best_policy: NumpyActorCritic | None = None
        self.evaluation_failure: Exception | None = None
        # where it failed: "the solved check", "the final evaluation"; None when the process died
        self.evaluation_failed_in: str | None = None
        self.write_failure: WriteFailed | None = None  # a file written while training ran
        self.solved_check_passed_at: float | None = None  # epoch time, for the run record's timeline

    def _make_workers(self, shared: GlobalModel, ledger: EpisodeLedger, registration: EnvSpec | None) -> list[Worker]:
        """`registration`: the env's spec for another process, None if none can make it (the check's)."""
        config, info = self.config, self.info
        if config.backend == "ray":  # one driver thread feeding Ray actors; same surface as a worker thread
            from a3c_cartpole.parallel.ray_backend import RayWorkerPool

            return [RayWorkerPool(config, info, self.seed, shared, ledger)]
        rollouts = make_collector
        if config.backend == "processes":
            if registration is None:
                self.progress.message(
                    f"{info.env_id} is defined in this process only (in __main__ or in a function), "
                    "so no other process can make it: the workers act in threads and the solved checks run here"
                )
            else:
                rollouts = functools.partial(RolloutProcess, registration=registration)
        # every child starts before the first worker thread needs its own
        sources = [rollouts(config, info, self.seed + 10_000 * (i + 1), [self.seed, i]) for i in range(config.workers)]
        workers = [Worker(i, source, shared.connect(), ledger) for i, source in enumerate(sources)]
        workers[0].link.compile(info.obs_size)  # before the clock starts (and while any children start)
        return workers

    def _judge(self, policy, check: SolvedCheck, board, n_episodes: int, steps: int) -> Evaluation:
        """Evaluate `policy` here and now (the final model, once the workers have stopped)."""
        return self._record(policy, check.evaluate(policy), check, board, n_episodes, steps)

    def _take_answer(self, answer, check: SolvedCheck, board, ledger: EpisodeLedger, solved_at):
        """Record a check that ran in the evaluation process; returns when the run was solved, if it was."""
        ((returns, confirmed), seconds), (policy, n_episodes, steps, at_seconds) = answer
        result = self._record(policy, check.finish(returns, confirmed, seconds), check, board, n_episodes, steps)
        if result.solved and solved_at is None:
            solved_at = (n_episodes, steps, at_seconds)  # when the weights that passed were taken
            self.solved_check_passed_at = time.time()
            if self.config.early_stop:
                ledger.request_stop("solved")
        elif result.solved and self.config.stop_when_solved_again:
            self.progress.message(f"Solved again at episode {n_episodes:,}: stopping.")
            ledger.request_stop("solved again")
        return solved_at

    def _collect(self, evaluator: EvaluationProcess, ledger: EpisodeLedger, timeout: float | None = 0.0):
        """The evaluation process's answer, if one is ready (see `_evaluation_alive`)."""
        return self._evaluation_alive(evaluator.collect, ledger, timeout)

    def _wait_a_poll(self, evaluator: EvaluationProcess, ledger: EpisodeLedger):
        """Wait one poll interval, cut short by a check's answer (returned) or by a stop (the run ends
        at once, not a poll later: the solved check's pass is a run's last wait)."""
        if evaluator.busy:
            return self._collect(evaluator, ledger, timeout=POLL_SECONDS)
        ledger.wait_for_stop(POLL_SECONDS)
        return None

    def _evaluation_alive(self, call, ledger: EpisodeLedger, *args):
        """`call(*args)` on the evaluation process. If the process died, or the check raised there (a
        user's env can), stop the run and return None: the run saves what it learned, as after a
        worker's failure, and then exits 1 saying why."""
        try:
            return call(*args)
        except Exception as err:  # EvaluationProcessFailed, or whatever the check raised (EnvFailed)
            where = None if isinstance(err, EvaluationProcessFailed) else "the solved check"
            self.evaluation_failure, self.evaluation_failed_in = err, where
            ledger.request_stop(failure_line(where, err))
            return None

    def _record(self, policy, result: Evaluation, check: SolvedCheck, board, n_episodes: int, steps: int) -> Evaluation:
        """Log an evaluation; keep `policy` as the best model if it beats every earlier one."""
        board.evaluation(result.mean, result.std, steps)
        check.history.append(EvaluationPoint(n_episodes, steps, result.mean, result.std))
        if check.is_best(result):
            self.best_policy = policy  # written once at the end: a save costs the workers ~0.1 s of GIL
            verdict = "solved" if result.solved else "new best"
            self.progress.message(
                f"  eval at episode {n_episodes:,}, step {steps:,}: greedy mean "
                f"{result.mean_and_std()} over {len(result.returns)} episodes ({verdict})"
            )
        return result

    def train(self) -> TrainResult:
        """Train holding the save dir's lock, with SIGTERM and SIGHUP stopping the run as Ctrl-C does."""
        self.workers: list = []
        self.reserve: DiskReserve | None = None
        with claim_save_dir(self.config), StopSignals() as signals:
            try:
                return self._train(signals)
            finally:  # a failure before the workers started leaves their rollout processes waiting
                for worker in self.workers:
                    if worker.ident is None and hasattr(worker, "rollouts"):
                        worker.rollouts.close()
                if self.reserve is not None:
                    self.reserve.release()

    def _watch(
        self,
        workers: list,
        evaluator: EvaluationProcess,
        shared: GlobalModel,
        ledger: EpisodeLedger,
        check: SolvedCheck,
        board: TrainingBoard,
        checkpoints: TrainingCheckpoints,
        signals: StopSignals,
        solved_at: tuple | None,
    ) -> tuple[tuple | None, int | None]:
        """Run the workers to the end, meanwhile submitting solved checks, logging and checkpointing.

        Returns when the run was solved (if it was) and the signal that stopped it (if one did).
        """
        files = self.files
        last_csv = time.perf_counter()
        interrupted_by = None
        try:
            for worker in workers:
                worker.start()
            while not ledger.stopping and any(w.is_alive() for w in workers):
                if signals.received is not None:  # noted by the handler, acted on here: never mid-write
                    interrupted_by = signals.received
                    ledger.request_stop(f"interrupted by {signal_words(interrupted_by)}")
                    self.progress.message("Interrupted: stopping the workers and saving what was learned...")
                    break
                answer = self._wait_a_poll(evaluator, ledger)
                if answer is not None:
                    solved_at = self._take_answer(answer, check, board, ledger, solved_at)
                episodes, steps = ledger.snapshot()
                idle = not evaluator.busy and not ledger.stopping
                if idle and check.due(ledger.recent_mean(GATE_EPISODES), len(episodes), steps):
                    policy, now = shared.snapshot(), time.perf_counter() - ledger.start_time
                    context, request = (policy, len(episodes), steps, now), (check.request(policy),)
                    if check.registration is not None:
                        self._evaluation_alive(evaluator.submit, ledger, run_check, request, context)
                    else:  # an env no other process can make (defined in __main__): look here, meanwhile idle
                        answer = self._evaluation_alive(_timed, ledger, run_check, *request)
                        if answer is not None:
                            solved_at = self._take_answer((answer, context), check, board, ledger, solved_at)
                self.progress.update(len(episodes), steps, ledger.recent_mean(MOVING_AVERAGE_WINDOW), _best_mean(check))
                try:
                    board.poll(
                        episodes, steps, lambda: _worker_stats(workers), lambda: float(shared.optimizer.learning_rate)
                    )
                    if checkpoints.due():  # also rewrites the CSV
                        checkpoints.save(ledger, check, workers, time.perf_counter() - ledger.start_time, solved_at)
                        last_csv = time.perf_counter()
                    if time.perf_counter() - last_csv > CSV_EVERY_SECONDS:
                        write_episodes_csv(files.episodes_csv, episodes)
                        last_csv = time.perf_counter()
                except WriteFailed as err:  # a full disk: stop, and save the weights (small) before anything else
                    self.write_failure = err
                    ledger.request_stop(str(err))
        finally:  # whatever ended the loop, no worker outlives it
            ledger.request_stop("the master stopped")
            for worker in workers:
                if worker.ident is not None:
                    worker.join()
        return solved_at, interrupted_by

    def _train(self, signals: StopSignals) -> TrainResult:
        config, info, files = self.config, self.info, self.files
        seed_everything(self.seed)
        ledger = EpisodeLedger(config.max_eps, config.max_steps)
        shared = GlobalModel(
            build_model(
                info.obs_size, info.n_actions, config.hidden, config.layers, config.activation, config.normalize_obs
            ),
            config,
            lambda: ledger.steps,
        )
        checkpoints = TrainingCheckpoints(config, info, shared, self.seed)
        resumed, old_episodes = checkpoints.resume(files) if config.resume else (checkpoints.state, [])
        check = SolvedCheck(info, config.eval_episodes, config.eval_every)
        # Ray connects here: a bad address must fail first...
        workers = self.workers = self._make_workers(shared, ledger, check.registration)
        if not config.resume:  # ...before --overwrite removes the earlier run (the lock refused a fresh start over one)
            files.remove()
        checkpoints.apply(resumed, old_episodes, ledger, check, workers)
        if not config.resume:  # from now on a run killed at any moment can be resumed
            checkpoints.save(ledger, check, workers, 0.0, None)
        # room for both weights files and the run record, should the disk fill up
        self.reserve = DiskReserve(files.reserve, 2 * len(weights_file_bytes(shared.model)) + RECORD_ROOM)
        solved_at: tuple[int, int, float] | None = tuple(resumed.solved_at) if resumed.solved_at else None
        board = TrainingBoard(tensorboard_dir(config.save_dir, config.env_id), len(old_episodes), resumed.steps)
        board.settings(run_settings(config, self.seed, resumed_at_episode=len(old_episodes)), step=resumed.steps)
        preset = f"preset {config.preset}" if config.preset else "no preset"
        self.progress.message(
            f"Training A3C on {config.env_id} ({preset}): "
            f"{_count(config.workers, 'worker')} x {_count(config.envs_per_worker, 'env')}, "
            f"seed {self.seed}; solved = greedy mean >= {info.reward_threshold} over {config.eval_episodes} episodes"
        )
        if config.resume:
            for skipped in checkpoints.skipped:
                self.progress.message(f"Skipped checkpoint {skipped}")
            self.progress.message(
                f"Resuming from {checkpoints.resumed_from}: episode {resumed.episodes:,}, "
                f"{resumed.steps:,} env steps, {resumed.updates:,} updates, {resumed.seconds:.1f} s trained"
            )
        if solved_at is not None:
            self.progress.message(_resuming_solved_run(config, solved_at[0], check.best))

        ledger.start_time = time.perf_counter() - resumed.seconds  # a resumed run's clock continues
        self.progress.start(resumed.steps)
        evaluator = EvaluationProcess()
        try:
            solved_at, interrupted_by = self._watch(
                workers, evaluator, shared, ledger, check, board, checkpoints, signals, solved_at
            )
            # the check in flight may be the one that passes: its answer takes a second at most
            answer = self._collect(evaluator, ledger, timeout=None)
            if answer is not None:
                solved_at = self._take_answer(answer, check, board, ledger, solved_at)
            seconds = time.perf_counter() - ledger.start_time
            checks_seconds = check.seconds  # while training ran (a last judgement of the final model may follow)
            final = shared.snapshot()
            # the final model may beat every evaluated one: judge it too, unless checks or workers failed
            # (an env that raised there may raise again)
            episodes, steps = ledger.snapshot()
            if solved_at is None and self.evaluation_failure is None and not _failed(workers):
                try:
                    if self._judge(final, check, board, len(episodes), steps).solved:
                        solved_at = (len(episodes), steps, seconds)
                        self.solved_check_passed_at = time.time()
                except EnvFailed as err:  # the run still saves all it learned, then reports the env
                    self.evaluation_failure, self.evaluation_failed_in = err, "the final evaluation"
            solved_episode = solved_at[0] if solved_at else None
            plot = (files.plot, episodes, config.env_id, info.reward_threshold, solved_episode, check.history)
            try:
                # the weights first, into the room kept for them: what a full disk must not cost (the
                # shared model writes both)
                self.reserve.shrink(RECORD_ROOM)
                if self.best_policy is not None:  # None when a resumed run never beat the saved best
                    save_weights(self.best_policy, info, files.best_weights, writer=shared.model)
                save_weights(final, info, files.final_weights, writer=shared.model)
                # the plot is drawn in the evaluation process, which loaded matplotlib while training ran
                plotting = _submit_plot(evaluator, plot)
                checkpoints.save(ledger, check, workers, seconds, solved_at)  # with the CSV; also after Ctrl-C
                board.episodes(episodes)
                board.stats(steps, _worker_stats(workers), float(shared.optimizer.learning_rate))
                board.close()
                if not (plotting and _plot_drawn(evaluator)):
                    write_plot(*plot)
            except WriteFailed as err:  # the rest is skipped; the run record still says what happened, and
                # tells --play the network's shape
                self.write_failure = self.write_failure or err
        finally:  # whatever happened, the evaluation process ends with the run
            evaluator.close()
        result = TrainResult(
            solved=solved_at is not None,
            episodes=len(episodes),
            steps=steps,
            seconds=seconds,
            stop_reason=ledger.stop_reason or "stopped",
            best_evaluation=check.best,
            solved_at_episode=solved_at[0] if solved_at else None,
            solved_at_step=solved_at[1] if solved_at else None,
            solved_at_seconds=solved_at[2] if solved_at else None,
            training_moving_average=ledger.recent_mean(MOVING_AVERAGE_WINDOW),
            seed=self.seed,
            files=files,
            evaluations=list(check.history),
            interrupted_by=interrupted_by,
        )
        timeline = {
            "first_env_step": ledger.first_step_at,
            "solved_check_passed": self.solved_check_passed_at,
            "files_written": time.time(),  # the run record, written next, is the last file
            "evaluation_seconds": checks_seconds,
        }
        self.reserve.release()  # the record's room
        failure = self._failure(workers, result.stop_reason) or (self.write_failure and str(self.write_failure))
        write_json(files.run_record, _run_record(config, result, shared.updates, timeline, failure))
        if self.write_failure is not None:
            raise self.write_failure
        if failure is not None:
            raise WorkerFailed(f"{failure}; what was learned is saved in {files.save_dir}")
        self.progress.message(summary(result))
        return result

    def _failure(self, workers: list, stop_reason: str) -> str | None:
        """What made the run fail, in one line, its traceback written to the error log; None if nothing did.

        A worker's failure or the env's always counts; the evaluation process dying counts only if
        it ended the run (after a stop signal, it did not)."""
        failed = _failed(workers)
        if failed:
            return report_failure(f"worker {failed[0].worker_id}", failed[0].error, self.files.error_log)
        err, where = self.evaluation_failure, self.evaluation_failed_in
        if err is None or not (isinstance(err, EnvFailed) or stop_reason == failure_line(where, err)):
            return None
        return report_failure(where, err, self.files.error_log)


def _failed(workers: list) -> list:
    """The workers that failed, in order."""
    return [w for w in workers if w.error is not None]


def _timed(task, *args) -> tuple:
    """(task(*args), its seconds): what the evaluation process answers, for a task run here."""
    start = time.perf_counter()
    result = task(*args)
    return result, time.perf_counter() - start


def _submit_plot(evaluator: EvaluationProcess, plot: tuple) -> bool:
    """Hand the plot to the evaluation process; False if it is gone (the master then draws it)."""
    try:
        evaluator.submit(write_plot, plot, None)
    except EvaluationProcessFailed:  # the child died: the master draws the plot
        return False
    return True


def _plot_drawn(evaluator: EvaluationProcess) -> bool:
    """Wait for the plot; False if the evaluation process died first. A failed write is raised."""
    try:
        evaluator.collect(timeout=None)
    except EvaluationProcessFailed:
        return False
    return True


def _count(n: int, noun: str) -> str:
    """ "1 worker", "2 workers": the banner reads as a sentence."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _worker_stats(workers) -> list:
    """The latest loss terms of each worker (None before its first update)."""
    return [getattr(w, "last_stats", None) for w in workers]


def _best_mean(check: SolvedCheck) -> float | None:
    return None if check.best is None else check.best.mean


def _run_record(
    config: TrainConfig, result: TrainResult, updates: int, timeline: dict, failure: str | None = None
) -> dict:
    """The run record: settings, outcome, every evaluation, where this session's time went, and what
    made it fail, if something did.

    `timeline` holds epoch times (first env step, solved check passed, files written) and the seconds
    the solved checks took: with a process's start and exit, they give the fixed costs of a run.
    """
    return {
        "env_id": config.env_id,
        "env_kwargs": config.env_kwargs,
        "env_package": config.env_package,
        "hidden": config.hidden,
        "layers": config.layers,
        "activation": config.activation,
        "normalize_obs": config.normalize_obs,
        "preset": config.preset,
        "config": config.as_dict(),
        "updates": updates,
        **result.as_dict(),
        "evaluations": [point._asdict() for point in result.evaluations],
        "timeline": timeline,
        "failure": failure,
    }


def _resuming_solved_run(config: TrainConfig, solved_at_episode: int, best: Evaluation | None) -> str:
    """Why a resumed solved run keeps training, and until when."""
    budget = f"--max-eps {config.max_eps:,}"
    if config.max_steps is not None:
        budget += f" / --max-steps {config.max_steps:,}"
    score = "" if best is None else f" (best greedy mean {best.mean:.1f} ± {best.std:.1f})"
    if config.stop_when_solved_again:
        plan = f"training on until the solved check passes again, or to the budget ({budget})"
    else:
        plan = (
            f"training on to the budget ({budget}) with early stopping off; "
            "add --stop-when-solved-again to stop at the next passed solved check"
        )
    return f"This run was solved at episode {solved_at_episode:,}{score}: {plan}."


def summary(result: TrainResult) -> str:
    """The closing lines: verdict, when, and where the files are."""
    best = result.best_evaluation
    lines = []
    if result.solved:
        lines.append(
            f"SOLVED at episode {result.solved_at_episode:,}, {result.solved_at_step:,} env steps, "
            f"{result.solved_at_seconds:.1f} s: greedy policy averaged {best.mean_and_std()} "
            f"over {len(best.returns)} evaluation episodes."
        )
    else:
        score = "never evaluated" if best is None else f"best greedy mean {best.mean_and_std()}"
        lines.append(f"NOT SOLVED ({result.stop_reason}): {score}.")
    avg = "-" if result.training_moving_average is None else f"{result.training_moving_average:.1f}"
    lines.append(
        f"Trained {result.episodes:,} episodes, {result.steps:,} env steps in {result.seconds:.1f} s "
        f"({result.steps / max(result.seconds, 1e-9):,.0f} steps/s); mean of the last 100 training episodes "
        f"(the tutorial's rule): {avg}."
    )
    lines.append(
        f"Files in {result.files.save_dir}/: best and final weights, episodes CSV, plot, run record; "
        "checkpoints/ and tensorboard/."
    )
    return "\n".join(lines)
