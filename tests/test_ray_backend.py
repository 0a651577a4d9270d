"""The Ray backend: same learning as threads, exact episode budget when an actor dies, several nodes.

Every test but the CLI one needs Ray (pip install 'a3c-cartpole[ray]') and is skipped without it.
Local tests share one Ray instance (2 CPUs); the two-node test then starts its own simulated cluster.
"""

import csv
import os
import sys
import time

import numpy as np
import pytest

# Ray gives its nodes the machine's outward IP even when asked for 127.0.0.1; this (read when ray is
# imported) keeps every test node on loopback, so the tests open no socket beyond this machine.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from a3c_cartpole.cli import main
from a3c_cartpole.config import ConfigError, TrainConfig


def test_backend_ray_without_ray_names_the_extra_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails, as if it were not installed
    code = main(["--train", "--backend", "ray", "--save-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "pip install 'a3c-cartpole[ray]'" in err
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


def test_ray_address_without_ray_backend_is_refused():
    with pytest.raises(ConfigError, match="--ray-address goes with --backend ray"):
        TrainConfig(ray_address="auto")
    with pytest.raises(ConfigError, match="--backend must be one of"):
        TrainConfig(backend="mpi")


def ray_config(tmp_path, **options) -> TrainConfig:
    return TrainConfig(backend="ray", save_dir=tmp_path, verbose=False, **options)


def test_actor_computes_the_same_gradient_as_a_thread_learner(tmp_path):
    pytest.importorskip("ray")
    from a3c_cartpole.envs import describe_env
    from a3c_cartpole.model import build_model
    from a3c_cartpole.ray_backend import RolloutActor, flatten, unflatten
    from a3c_cartpole.worker import Learner

    config = ray_config(tmp_path, workers=1)
    info = describe_env(config.env_id)
    weights = build_model(info.obs_size, info.n_actions, config.hidden).snapshot()
    learner = Learner(config, info, 7, [3, 0])
    actor = RolloutActor(config, info, 7, [3, 0])  # in-process: no Ray needed

    learner.model.load_snapshot(weights)
    seen = []
    expected, _, _ = learner.gradients(weights, lambda n, finished: seen.append((n, finished)) or True)
    flat, _, vector_steps = actor.compute(flatten(weights.arrays()))

    for variable, array in zip(actor.learner.model.ordered_variables(), weights.arrays(), strict=True):
        np.testing.assert_array_equal(variable.numpy(), array)  # acted and differentiated at the sent weights
    shapes = [tuple(g.shape) for g in expected]
    for got, want in zip(unflatten(flat, shapes), expected, strict=True):
        np.testing.assert_array_equal(got, np.asarray(want))
    assert vector_steps == seen


@pytest.fixture(scope="class")
def local_ray():
    """One local Ray instance with 2 CPUs, like a CI machine, shared by a class of tests."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray
    ray.shutdown()


@pytest.mark.usefixtures("local_ray")
class TestLocalRay:
    """Training through the master, and an actor killed mid-run, on a local Ray instance."""

    def test_short_ray_training_beats_random_baseline(self, tmp_path):
        from a3c_cartpole.master import MasterAgent

        # usually solved (greedy mean >= 475) after 15k-35k steps, which stops the run
        result = MasterAgent(ray_config(tmp_path, workers=2, seed=0, max_steps=60_000)).train()

        assert result.episodes > 100
        with open(result.files.episodes_csv, newline="") as handle:
            workers = {int(row["worker"]) for row in csv.DictReader(handle)}
        assert workers == {0, 1}  # both actors' episodes reached the master's log
        # random play averages ~22 on CartPole-v1. The greedy policy is what is judged: it can pass
        # while the sampling policy's recent training returns are still near random (measured: 24).
        assert result.best_evaluation.mean > 100

    def test_killed_actor_is_restarted_and_episode_budget_stays_exact(self, tmp_path, local_ray):
        from a3c_cartpole.envs import describe_env
        from a3c_cartpole.global_model import GlobalModel
        from a3c_cartpole.ledger import EpisodeLedger
        from a3c_cartpole.model import build_model
        from a3c_cartpole.ray_backend import RayWorkerPool

        # lr so small that the policy stays random: short episodes at a steady rate
        config = ray_config(tmp_path, workers=2, seed=1, max_eps=5000, lr=1e-9)  # ~15 s left after the kill
        info = describe_env(config.env_id)
        ledger = EpisodeLedger(config.max_eps, None)
        shared = GlobalModel(build_model(info.obs_size, info.n_actions, config.hidden), config, lambda: ledger.steps)
        pool = RayWorkerPool(config, info, 1, shared, ledger)
        pool.start()
        deadline = time.monotonic() + 120
        while len(ledger.snapshot()[0]) < 300 and pool.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.is_alive(), pool.error
        local_ray.kill(pool.actors[0], no_restart=False)
        killed_at = time.perf_counter() - ledger.start_time
        pool.join(timeout=120)

        assert not pool.is_alive() and pool.error is None
        episodes, _ = ledger.snapshot()
        assert [e.episode for e in episodes] == list(range(1, config.max_eps + 1))
        assert ledger.stop_reason == f"episode budget of {config.max_eps} reached"
        assert pool.lost_rollouts >= 1
        # a new process for actor 0 imports TensorFlow (seconds) and then trains again
        assert any(e.worker == 0 and e.wall_time > killed_at + 1.0 for e in episodes)


def test_two_node_cluster_places_one_actor_per_node_and_trains(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from a3c_cartpole.envs import describe_env
    from a3c_cartpole.global_model import GlobalModel
    from a3c_cartpole.ledger import EpisodeLedger
    from a3c_cartpole.model import build_model
    from a3c_cartpole.ray_backend import RayWorkerPool

    cluster = Cluster(initialize_head=True, connect=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        nodes = {node["NodeID"] for node in ray.nodes() if node["Alive"]}
        assert len(nodes) == 2
        assert {node["NodeManagerAddress"] for node in ray.nodes()} == {"127.0.0.1"}

        config = ray_config(tmp_path, workers=2, seed=2, max_eps=300)
        info = describe_env(config.env_id)
        ledger = EpisodeLedger(config.max_eps, None)
        shared = GlobalModel(build_model(info.obs_size, info.n_actions, config.hidden), config, lambda: ledger.steps)
        pool = RayWorkerPool(config, info, 2, shared, ledger)
        pool.start()
        pool.join(timeout=120)

        assert set(pool.node_ids) == nodes  # one CPU per node, one CPU per actor: one actor on each
        assert pool.error is None
        episodes, _ = ledger.snapshot()
        assert len(episodes) == config.max_eps
        assert {e.worker for e in episodes} == {0, 1}
        assert shared.updates > 0
    finally:
        ray.shutdown()
        cluster.shutdown()
