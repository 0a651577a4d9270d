"""A worker's rollouts in a process of its own: the `processes` backend.

Worker threads share one GIL, and acting (numpy forward passes, env steps) holds it for about as
long as the compiled update runs, so two threads on two cores train little faster than one. Here
each worker thread of the master keeps its place -- it syncs, hands its rollout to the update and
gets the next weights -- but the rollout itself is acted by a child process, on a core of its own.
The master's threads wait on pipes, which leaves the GIL to the updates.

What the child sends back is `--gradients`' choice. With "learner", the child acts only (numpy and
gymnasium, no TensorFlow) and returns the rollout, which the master's shared step differentiates
and applies: cheapest where the gradient costs little or its weights are many (an MLP; Atari's conv
net, whose 1.7M weights would cross the pipe twice an update). With "workers", the child hosts a
`Learner`, acts and differentiates, and the master only applies the gradients -- A3C as its paper
has it: one learner differentiating for every worker is the ceiling when a gradient costs several
times the acting (MinAtar's conv net; figures in presets.toml).

Per rollout, the weights the worker acts with go to the child and the rollout (or its gradients)
comes back, with its vector steps: the worker replays them into the episode ledger as a thread's own
rollout would have reported them, so the episode budget stays exact and a stop drops the rest of
the rollout. The same seeds make the same rollouts as a worker thread's.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from gymnasium.envs.registration import EnvSpec

from a3c_cartpole.a3c.rollout import Batch, RolloutCollector, StepLog, StepReport, make_collector
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.registry import register_as_the_parent_did
from a3c_cartpole.envs.spec import EnvInfo
from a3c_cartpole.networks.acting_copy import NumpyActorCritic
from a3c_cartpole.parallel import child_process
from a3c_cartpole.parallel.child_process import NO_GPU, PROTOCOL, finish, ignore_stop_signals, spawn

if TYPE_CHECKING:  # a child that only acts never loads TensorFlow
    from a3c_cartpole.a3c.loss import Gradients
    from a3c_cartpole.parallel.learner import Learner


READY = "ready"
"""What a child that differentiates sends once it can (`RolloutProcess.wait_until_ready`)."""


class RolloutProcessFailed(RuntimeError):
    """A worker's rollout process died (killed, or out of memory); the run stops and saves what it learned."""


class RolloutProcess:
    """The parent's side: what a `RolloutCollector` offers (`collect`, `resume_state`, `close`), acted in the child."""

    def __init__(
        self,
        config: TrainConfig,
        info: EnvInfo,
        env_seed: int,
        rng_seed,
        registration: EnvSpec,
        gradients: bool = False,
    ) -> None:
        """`registration`: the env's spec (envs.registration_for_a_child), for an env registered at run time.
        `gradients`: the child differentiates too; `collect` then takes flat weights and returns `Gradients`."""
        self._child = spawn("a3c_cartpole.parallel.rollout_process", NO_GPU if gradients else None)
        self._send(gradients)  # first on its own: whatever fails to unpickle next, the child knows to say it is ready
        self._send((config, info, registration, env_seed, rng_seed))  # it starts while the master goes on
        self._gradients = gradients
        self._resume_state = {"rng": np.random.default_rng(rng_seed).bit_generator.state}  # the child's, as it starts
        self._restore: dict | None = None

    def wait_until_ready(self) -> None:
        """Return once a child that differentiates has loaded TensorFlow and traced its steps (seconds):
        called for every worker before the run's clock starts, so that time is not counted as training.
        A child that could not start says so at its first rollout, as one that only acts does."""
        if self._gradients:
            try:
                pickle.load(self._child.stdout)
            except EOFError as err:
                raise self._failed() from err

    @property
    def resume_state(self) -> dict:
        """The child's collector's state after its latest rollout (or the one it is to resume from)."""
        return self._resume_state if self._restore is None else self._restore

    @resume_state.setter
    def resume_state(self, state: dict) -> None:
        self._restore = state  # goes with the next policy

    def collect(self, policy: NumpyActorCritic | np.ndarray, report: StepReport) -> Batch | Gradients | None:
        """Act one rollout with `policy` (flat weights, if the child differentiates) in the child;
        None if `report` says stop part-way."""
        self._send((policy, self._restore))
        if self._restore is not None:  # until the rollout is back, the child resumed from this state
            self._resume_state, self._restore = self._restore, None
        try:
            answer = pickle.load(self._child.stdout)
        except EOFError as err:
            raise self._failed() from err
        except Exception as err:  # e.g. an env's exception that cannot be rebuilt here
            raise RolloutProcessFailed(f"its rollout process sent what cannot be read: {err!r}") from err
        if isinstance(answer, BaseException):  # raised by the env in the child
            raise answer
        batch, vector_steps, self._resume_state = answer
        if all(report(n_steps, finished) for n_steps, finished in vector_steps):
            return batch
        return None

    def _send(self, message) -> None:
        try:
            pickle.dump(message, self._child.stdin, protocol=PROTOCOL)
            self._child.stdin.flush()
        except OSError as err:  # its pipe is closed: it exited
            raise self._failed() from err

    def _failed(self) -> RolloutProcessFailed:
        try:
            code = self._child.wait(timeout=1)
        except subprocess.TimeoutExpired:  # its pipe broke, yet it runs: stop it
            self._child.kill()
            code = self._child.wait()
        return RolloutProcessFailed(f"its rollout process stopped (exit code {code})")

    def close(self) -> None:
        finish(self._child)


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Make the worker's envs, then act one rollout per policy received, until the parent closes the pipe.

    The parent sends whether to differentiate, then the setup. A request is (policy, sampling state
    to resume from or None); the answer, (rollout or its
    gradients, its vector steps, the sampling state after it), or an exception (a user's env
    failing), to be raised in the worker. A child that differentiates first says it is ready.
    """
    try:
        gradients = pickle.load(requests)
    except EOFError:  # the parent is gone
        return
    try:
        config, info, registration, env_seed, rng_seed = pickle.load(requests)
        register_as_the_parent_did(info, registration)
        collector = (
            _learner(config, info, env_seed, rng_seed)
            if gradients
            else make_collector(config, info, env_seed, rng_seed)
        )
    except Exception as err:
        collector, failure = None, err
    if gradients:
        pickle.dump(READY, answers, protocol=PROTOCOL)
        answers.flush()

    def act(request: tuple) -> tuple[Batch | Gradients, list, dict] | Exception:
        policy, resume_state = request
        try:
            if collector is None:
                raise failure
            if resume_state is not None:
                collector.resume_state = resume_state
            return _act(collector, policy)
        except Exception as err:
            return err

    child_process.serve(requests, answers, act, lambda answer: RuntimeError(repr(answer)))
    if collector is not None:
        collector.close()


def _act(collector: RolloutCollector | Learner, policy) -> tuple[Batch | Gradients, list, dict]:
    """One rollout (or its gradients), its vector steps for the parent's ledger (see `StepLog`), and
    the collector's state after it."""
    log = StepLog()
    if isinstance(collector, RolloutCollector):
        return collector.collect(policy, log), log.vector_steps, collector.resume_state
    return collector.gradients(policy, log), log.vector_steps, collector.resume_state


def _learner(config: TrainConfig, info: EnvInfo, env_seed: int, rng_seed) -> Learner:
    """A worker that differentiates loads TensorFlow, on one thread (`child_process.ONE_THREAD_EACH`),
    and traces its steps: seconds, which the parent waits out before the run's clock starts."""
    from a3c_cartpole.tf_setup import import_tensorflow_quietly

    import_tensorflow_quietly()
    from a3c_cartpole.parallel.learner import Learner

    learner = Learner(config, info, env_seed, rng_seed)
    learner.warm_up()
    return learner


if __name__ == "__main__":
    ignore_stop_signals()  # the parent stops the run, and closes this process's pipe when it has
    serve(sys.stdin.buffer, sys.stdout.buffer)
    os._exit(0)  # nothing left to flush: skip the interpreter's teardown of numpy and gymnasium
