"""The Ray transport: workers are Ray actors, possibly on other machines; the driver owns the model.

Each actor wraps a `Learner`: the same envs and rollout as a worker thread's, and the same loss
traced on a local model. The driver keeps the one global model and optimizer and applies each
gradient as it arrives
(`ray.wait`, never `ray.get` in submission order), then `ray.put`s the new weights once and hands
that reference back to the actor whose gradient it was. One call is in flight per actor, so a
gradient is at most `workers - 1` updates stale.

An actor's episodes and env steps reach the ledger only when its gradient does. So a rollout lost
with a dead actor is never counted, and the ledger keeps the episode budget exact. Ray restarts the
actor and the driver gives it the latest weights again; training goes on.

`RayWorkerPool` is a thread that drives them all and a `WorkerGroup` (parallel/workers.py), so the
master's monitoring, solved check, outputs and Ctrl-C handling serve every backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import numpy as np
import ray
from ray._private import ray_constants
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from a3c_cartpole.tf_setup import import_tensorflow_quietly

import_tensorflow_quietly()  # in an actor's process, this module is the one that loads TensorFlow


from a3c_cartpole.a3c.global_model import GlobalModel  # noqa: E402
from a3c_cartpole.a3c.ledger import EpisodeLedger  # noqa: E402
from a3c_cartpole.a3c.loss import UpdateStats  # noqa: E402
from a3c_cartpole.a3c.rollout import FinishedEpisode, StepLog  # noqa: E402
from a3c_cartpole.config import ConfigError, TrainConfig, first_line  # noqa: E402
from a3c_cartpole.envs.spec import EnvInfo  # noqa: E402
from a3c_cartpole.parallel.child_process import ONE_THREAD_EACH  # noqa: E402
from a3c_cartpole.parallel.learner import Learner  # noqa: E402
from a3c_cartpole.parallel.workers import WorkerFailure, worker_seeds  # noqa: E402
from a3c_cartpole.training.stop_signals import STOP_SIGNALS  # noqa: E402

# Restarting an actor (a new process importing TensorFlow) takes seconds; calls to it fail fast
# meanwhile. The driver retries after a pause, and gives up after this many failures in a row.
RETRY_SECONDS = 0.5
MAX_FAILURES_IN_A_ROW = 120
# How long the driver sleeps in ray.wait before looking at the stop flag again.
WAIT_SECONDS = 0.05
ACTOR_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", **ONE_THREAD_EACH}
# Starting an actor imports TensorFlow (seconds); give up if Ray cannot place them all by then.
ACTOR_START_SECONDS = 300

# What one call returns: the gradients (flat, in trainable-variable order), the loss terms, and
# the rollout's vector steps as (env steps, episodes that ended), in the order they happened.
Rollout = tuple[np.ndarray, UpdateStats, list[tuple[int, list[FinishedEpisode]]]]


class RolloutActor:
    """A `Learner` in its own process: weights in, one rollout's gradients and episodes out."""

    def __init__(self, config: TrainConfig, info: EnvInfo, env_seed: int, rng_seed) -> None:
        self.learner = Learner(config, info, env_seed, rng_seed)
        self.learner.warm_up()  # while the driver waits for every actor to be ready

    def node_id(self) -> str:
        """The Ray node this actor runs on (also tells the driver it is ready)."""
        return ray.get_runtime_context().get_node_id()

    def compute(self, flat_weights: np.ndarray) -> Rollout:
        """Act one rollout with the global weights and differentiate the loss at them."""
        log = StepLog()  # the driver's ledger decides what counts, when the result arrives
        gradients = self.learner.gradients(flat_weights, log)
        return gradients.flat, gradients.stats, log.vector_steps


def connect(address: str | None) -> bool:
    """Start or join Ray unless this process already did; True if this call did (so it shuts down)."""
    if ray.is_initialized():
        return False
    options: dict = {"logging_level": logging.WARNING, "configure_logging": True}
    private = address is None and "RAY_ADDRESS" not in os.environ
    if private:  # even if `ray start` left an instance running: joining one is --ray-address auto
        options.update(address="local", include_dashboard=False)
    else:
        options["address"] = address
    try:
        with loopback_only(private), stop_signals_kept():
            ray.init(**options)
    except (ConnectionError, ray.exceptions.RayError, ValueError, RuntimeError) as err:  # e.g. InvalidAuthToken
        where = address or os.environ.get("RAY_ADDRESS") or "a new local instance"
        raise ConfigError(f"cannot start or join Ray ({where}): {first_line(err)}") from None
    return True


@contextlib.contextmanager
def loopback_only(private: bool) -> Iterator[None]:
    """While Ray starts a private instance, make its node address the loopback one.

    On Linux a new node takes the machine's network address, and its GCS, raylet, workers and
    runtime-env agent listen on every interface: open to the network for a run that serves one
    machine. Ray's servers listen on loopback only when the node's address is loopback, which
    `ray.init` gives only where it does not expect clusters (macOS, Windows: `ENABLE_RAY_CLUSTER`
    off); `_node_ip_address="127.0.0.1"` is turned back into the network address. A cluster joined
    with --ray-address keeps Ray's own settings: its nodes must reach this driver.
    """
    enabled = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = enabled and not private
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = enabled


@contextlib.contextmanager
def stop_signals_kept() -> Iterator[None]:
    """Keep this process's handlers of SIGINT, SIGTERM and SIGHUP through `ray.init`.

    The driver's `ray.init` installs Ray's own SIGTERM handler (it exits the process at once, and
    Ray's C++ failure handler prints a stack dump): a run under `timeout` or a batch scheduler would
    lose its weights, plot and run record. The run's handlers (training/stop_signals.py) go back in
    place, so a stop signal saves everything under Ray as it does with threads.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread sets handlers
        yield
        return
    kept = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in kept.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class RayWorkerPool(threading.Thread):
    """Drives `config.workers` Ray actors from the driver process, in place of worker threads."""

    def __init__(
        self,
        config: TrainConfig,
        info: EnvInfo,
        seed: int,
        shared: GlobalModel,
        ledger: EpisodeLedger,
    ) -> None:
        super().__init__(name="a3c-ray-driver", daemon=True)
        self.failing: int | str = "ray driver"
        """Who a failure is reported against: the driver, or the actor that kept failing."""
        self.shared = shared
        self.ledger = ledger
        self.error: BaseException | None = None
        self.last_stats: UpdateStats | None = None
        self.lost_rollouts = 0
        """Rollouts dropped because their actor died; none of their episodes or steps counted."""
        self.owns_ray = connect(config.ray_address)
        try:
            self.actors = self._create_actors(config, info, seed)
            # Wait until every actor has built its envs and model, so training time is training.
            ready = [actor.node_id.remote() for actor in self.actors]
            try:
                self.node_ids: list[str] = ray.get(ready, timeout=ACTOR_START_SECONDS)
            except GetTimeoutError:
                raise ConfigError(
                    f"Ray did not start {config.workers} workers within {ACTOR_START_SECONDS} s: "
                    "are there enough free CPUs (`ray status`)?"
                ) from None
        except BaseException:
            self._release()
            raise

    def _create_actors(self, config: TrainConfig, info: EnvInfo, seed: int) -> list:
        # One CPU per actor where the cluster has them; a share of the CPUs where it has fewer, so
        # that `--workers` larger than the core count still starts every actor.
        cpus = ray.cluster_resources().get("CPU", 1.0)
        actor_class = ray.remote(RolloutActor).options(
            num_cpus=min(1.0, cpus / config.workers),
            max_restarts=-1,
            max_task_retries=0,  # a lost rollout is dropped, never replayed
            scheduling_strategy="SPREAD",
            runtime_env={"env_vars": ACTOR_ENV},
        )
        return [actor_class.remote(config, info, *worker_seeds(seed, i)) for i in range(config.workers)]

    def run(self) -> None:
        try:
            self._drive()
        except BaseException as err:  # handed to the master, which reports it
            self.error = err
            self.ledger.request_stop(f"worker {self.failing} failed: {err}")
        finally:
            self._release()

    # The WorkerGroup the master drives: actors keep their own sampling states, which no checkpoint holds.
    def running(self) -> bool:
        return self.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self.ident is not None:  # a run that failed before the driver started has nothing to wait for
            super().join(timeout)

    def close_unstarted(self) -> None:
        if self.ident is None:
            self._release()

    def resume_states(self) -> list:
        return []

    def restore_resume_states(self, states: list) -> None:
        pass

    def latest_stats(self) -> list[UpdateStats | None]:
        return [self.last_stats]

    def failure(self) -> WorkerFailure | None:
        return None if self.error is None else WorkerFailure(self.failing, self.error)

    def _drive(self) -> None:
        weights = ray.put(self.shared.flat_snapshot())
        in_flight = {actor.compute.remote(weights): i for i, actor in enumerate(self.actors)}
        retry_at: dict[int, float] = {}  # actors whose last call failed, and when to call again
        failures = [0] * len(self.actors)
        while (in_flight or retry_at) and not self.ledger.stopping:
            for i, when in list(retry_at.items()):
                if time.monotonic() >= when:
                    del retry_at[i]
                    in_flight[self.actors[i].compute.remote(weights)] = i
            if not in_flight:
                time.sleep(WAIT_SECONDS)
                continue
            done, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_SECONDS)
            if not done:
                continue
            i = in_flight.pop(done[0])
            try:
                gradients, stats, vector_steps = ray.get(done[0])
            except RayTaskError as err:  # the actor's code raised (a user's env can): fail as a thread would
                self.failing = i
                raise err.cause from None
            except RayActorError as err:  # died or unreachable; Ray restarts it (ActorDiedError, ...)
                self.lost_rollouts += 1
                failures[i] += 1
                if failures[i] >= MAX_FAILURES_IN_A_ROW or getattr(err, "actor_init_failed", False):
                    self.failing = i
                    raise
                retry_at[i] = time.monotonic() + RETRY_SECONDS
                continue
            failures[i] = 0
            if not all(self.ledger.report(i, n_steps, finished) for n_steps, finished in vector_steps):
                break  # budget spent or stop requested while this rollout ran: like a thread, apply nothing
            self.last_stats = stats
            weights = ray.put(self.shared.apply_flat(gradients))
            in_flight[self.actors[i].compute.remote(weights)] = i

    def _release(self) -> None:
        """Stop every actor (their in-flight rollouts are dropped) and leave Ray if we started it."""
        for actor in getattr(self, "actors", []):
            with contextlib.suppress(Exception):  # already gone, or the cluster itself is: nothing to stop
                ray.kill(actor)
        if self.owns_ray:
            ray.shutdown()
