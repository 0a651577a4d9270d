"""The Ray backend: same learning as threads, exact episode budget when an actor dies, several nodes.

Every test but the CLI one needs Ray (pip install 'a3c-cartpole[ray]') and is skipped without it.
Local tests share one Ray instance (2 CPUs); the two-node test then starts its own simulated cluster.
"""

import csv
import json
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


def test_cli_ray_address_is_the_address_ray_is_asked_to_join(monkeypatch, capsys, tmp_path):
    pytest.importorskip("ray")
    from a3c_cartpole.parallel import ray_backend

    asked = []

    def connect_nowhere(address):
        asked.append(address)
        raise ConfigError("the test joins no cluster")

    monkeypatch.setattr(ray_backend, "connect", connect_nowhere)
    code = main(["--train", "--backend", "ray", "--ray-address", "10.1.2.3:6379", "--workers", "1", "--max-eps", "3",
                 "--save-dir", str(tmp_path)])  # fmt: skip
    assert code == 2 and asked == ["10.1.2.3:6379"]
    assert capsys.readouterr().err == "a3c-cartpole: error: the test joins no cluster\n"


@pytest.mark.parametrize(
    ("cpus", "workers", "share"),
    [(2.0, 1, 1.0), (2.0, 2, 1.0), (2.0, 5, 0.4), (1.0, 4, 0.25), (16.0, 3, 1.0)],
)
def test_actors_take_one_cpu_each_or_an_equal_share_when_workers_outnumber_cpus(
    monkeypatch, tmp_path, cpus, workers, share
):
    # Ray places an actor only where its num_cpus are free: 5 actors of 1 CPU never all start on 2 CPUs,
    # 5 of 0.4 CPU fill them exactly.
    pytest.importorskip("ray")
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.parallel import ray_backend

    options, created = {}, []

    class ActorClass:  # what ray.remote(RolloutActor) would give: records its options and creations
        def options(self, **given):
            options.update(given)
            return self

        def remote(self, *args):
            created.append(args)
            return object()

    monkeypatch.setattr(ray_backend.ray, "cluster_resources", lambda: {"CPU": cpus})
    monkeypatch.setattr(ray_backend.ray, "remote", lambda cls: ActorClass())
    pool = ray_backend.RayWorkerPool.__new__(ray_backend.RayWorkerPool)  # no Ray, no actors: just the method
    actors = pool._create_actors(ray_config(tmp_path, workers=workers), describe_env("CartPole-v1"), 7)
    assert len(actors) == len(created) == workers
    assert options["num_cpus"] == pytest.approx(share)
    assert workers * options["num_cpus"] <= cpus + 1e-9


def test_an_actor_sends_the_gradients_at_the_weights_it_was_sent(tmp_path):
    pytest.importorskip("ray")
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.networks.acting_copy import flatten
    from a3c_cartpole.parallel.ray_backend import RolloutActor
    from tests.conftest import build_mlp, gradients_by_hand

    config = ray_config(tmp_path, workers=1)
    info = describe_env(config.env_id)
    weights = build_mlp(info.obs_shape[0], info.n_actions, config.hidden).snapshot()
    actor = RolloutActor(config, info, 7, [3, 0])  # in-process: no Ray needed

    flat, stats, vector_steps = actor.compute(flatten(weights.arrays()))

    for variable, array in zip(actor.learner.model.ordered_variables(), weights.arrays(), strict=True):
        np.testing.assert_array_equal(variable.numpy(), array)  # acted and differentiated at the sent weights
    want = gradients_by_hand(config, info, flatten(weights.arrays()), 7, [3, 0])
    np.testing.assert_allclose(flat, want, rtol=1e-5, atol=1e-7)
    assert np.abs(flat).max() > 0 and stats.grad_norm > 0
    assert sum(n for n, _ in vector_steps) == config.envs_per_worker * config.update_freq


# A deadline only for a run that is broken: every wait below ends as soon as what it waits for happens.
DEADLINE_SECONDS = 300


def wait_for(condition, pool, what: str) -> None:
    """Poll `condition` until it holds; fail if the driver died or DEADLINE_SECONDS pass first."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        assert pool.is_alive(), f"the driver stopped before {what}: {pool.error!r}"
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE_SECONDS} s"
        time.sleep(0.05)


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

    def test_short_ray_training_clears_a_bar_far_above_its_untrained_network(self, tmp_path):
        """The best model's greedy mean over 100 episodes (seeds 0..99) must reach 250, far above the
        same seed's network before any update (9.3) and random play (~22).

        Measured over 12 runs of exactly this configuration (plain defaults, no preset): 473.2 / 493.8 /
        500.0 (min / median / max), every run solved v1 after 15k-52k env steps (24-67 s each on a busy
        2-core machine).
        """
        import a3c_cartpole
        from a3c_cartpole.a3c.master import MasterAgent
        from a3c_cartpole.envs.spec import describe_env
        from a3c_cartpole.evaluation.episodes import run_episodes

        def greedy_mean(path) -> float:
            return float(
                run_episodes(describe_env("CartPole-v1"), 100, a3c_cartpole.load_policy(path).network.greedy, 0).mean()
            )

        # The untrained network: the master builds the global model from the seed before any worker
        # starts, Ray actor or thread, so a thread run stopped at its first env step (0 updates) has it.
        untrained_config = TrainConfig(save_dir=tmp_path / "untrained", workers=2, seed=0, max_steps=1, verbose=False)
        before = MasterAgent(untrained_config)
        before.train()
        assert json.loads(before.files.run_record.read_text())["updates"] == 0
        untrained = greedy_mean(before.files.final_weights)

        result = MasterAgent(ray_config(tmp_path / "trained", workers=2, seed=0, max_steps=60_000)).train()

        assert result.episodes > 100
        with open(result.files.episodes_csv, newline="") as handle:
            workers = {int(row["worker"]) for row in csv.DictReader(handle)}
        assert workers == {0, 1}  # both actors' episodes reached the master's log
        assert untrained < 250 / 2
        assert greedy_mean(tmp_path / "trained") >= 250, untrained

    def test_killed_actor_is_restarted_and_episode_budget_stays_exact(self, tmp_path, local_ray):
        from a3c_cartpole.a3c.global_model import GlobalModel
        from a3c_cartpole.a3c.ledger import EpisodeLedger
        from a3c_cartpole.envs.spec import describe_env
        from a3c_cartpole.parallel.ray_backend import RayWorkerPool
        from tests.conftest import build_mlp

        # lr so small that the policy stays random: short episodes at a steady rate. The budget starts
        # out of reach and is set only once the restarted actor has delivered, so the end of the run
        # never races the restart (a new process importing TensorFlow: seconds, more on a busy machine).
        config = ray_config(tmp_path, workers=2, seed=1, max_eps=10**9, lr=1e-9)
        info = describe_env(config.env_id)
        ledger = EpisodeLedger(config.max_eps, None)
        shared = GlobalModel(build_mlp(info.obs_shape[0], info.n_actions, config.hidden), config, lambda: ledger.steps)
        pool = RayWorkerPool(config, info, 1, shared, ledger)
        pool.start()
        try:
            wait_for(lambda: len(ledger.snapshot()[0]) >= 300, pool, "300 episodes")
            local_ray.kill(pool.actors[0], no_restart=False)
            wait_for(lambda: pool.lost_rollouts >= 1, pool, "the driver to see actor 0's rollout fail")
            # From here on, actor 0's calls reach only its restarted process: any of its later episodes
            # comes from the new process.
            lost_at = len(ledger.snapshot()[0])
            wait_for(
                lambda: any(e.worker == 0 and e.episode > lost_at for e in ledger.snapshot()[0]),
                pool,
                "an episode of the restarted actor 0",
            )
            budget = len(ledger.snapshot()[0]) + 200
            ledger.max_eps = budget  # the run may end now: 200 more episodes
            pool.join(timeout=DEADLINE_SECONDS)
        finally:
            ledger.request_stop("the test ended")  # a failed wait leaves no driver running

        assert not pool.is_alive() and pool.error is None
        episodes, _ = ledger.snapshot()
        assert [e.episode for e in episodes] == list(range(1, budget + 1))
        assert ledger.stop_reason == f"episode budget of {budget:,} reached"


def test_two_node_cluster_places_one_actor_per_node_and_trains(tmp_path):
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from a3c_cartpole.a3c.global_model import GlobalModel
    from a3c_cartpole.a3c.ledger import EpisodeLedger
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.parallel.ray_backend import RayWorkerPool
    from tests.conftest import build_mlp

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
        shared = GlobalModel(build_mlp(info.obs_shape[0], info.n_actions, config.hidden), config, lambda: ledger.steps)
        pool = RayWorkerPool(config, info, 2, shared, ledger)
        pool.start()
        pool.join(timeout=DEADLINE_SECONDS)

        assert set(pool.node_ids) == nodes  # one CPU per node, one CPU per actor: one actor on each
        assert pool.error is None
        episodes, _ = ledger.snapshot()
        assert len(episodes) == config.max_eps
        assert {e.worker for e in episodes} == {0, 1}
        assert shared.updates > 0
    finally:
        ray.shutdown()
        cluster.shutdown()
