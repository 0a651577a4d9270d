"""The `processes` backend: worker threads whose rollouts a child process acts (rollout_process.py).

What it must keep from threads: one worker trains exactly as a thread does, the episode budget is
exact under 8 workers, a dead or failing child stops the run with one line and saves what was learned.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pickle
import signal

import gymnasium as gym
import numpy as np
import pytest

from a3c_cartpole import train
from a3c_cartpole.a3c.rollout import make_collector
from a3c_cartpole.cli import main
from a3c_cartpole.config import TrainConfig
from a3c_cartpole.envs.making import EnvFailed
from a3c_cartpole.envs.registry import registration_for_a_child
from a3c_cartpole.envs.spec import describe_env
from a3c_cartpole.networks.acting_copy import flatten
from a3c_cartpole.networks.build import build_model
from a3c_cartpole.networks.spec import network_for
from a3c_cartpole.parallel.rollout_process import RolloutProcess, serve
from a3c_cartpole.training.outputs import RunFiles
from tests.conftest import build_mlp, gradients_by_hand
from tests.scripted_envs import FallsLateEnv, registered
from tests.test_determinism import RUN, episode_log, final_weights
from tests.test_stopping import UNTIL_STOPPED, assert_run_agrees, sigterm_to_the_group

ENV = "CartPole-v1"


def test_one_worker_acting_in_a_process_trains_bit_for_bit_as_a_thread(tmp_path):
    # Same seeds, same rollouts, same updates: the child only moves where the acting happens.
    train(save_dir=tmp_path / "threads", lr=1e-3, backend="threads", **RUN)
    train(save_dir=tmp_path / "processes", lr=1e-3, backend="processes", **RUN)
    log = episode_log(tmp_path / "threads")
    assert len(log) == RUN["max_eps"] and episode_log(tmp_path / "processes") == log
    weights = [final_weights(tmp_path / backend) for backend in ("threads", "processes")]
    assert all(np.array_equal(x, y) for x, y in zip(*weights, strict=True))


def test_episode_budget_is_exact_with_eight_worker_processes(tmp_path):
    # 8 children return whole rollouts; the ledger counts their episodes up to exactly 37.
    result = train(
        env=ENV,
        seed=3,
        workers=8,
        envs_per_worker=2,
        backend="processes",
        save_dir=tmp_path,
        max_eps=37,
        early_stop=False,
        verbose=False,
    )
    assert result.episodes == 37 and "37" in result.stop_reason
    record = assert_run_agrees(RunFiles(tmp_path, ENV))
    assert record["episodes"] == 37 and record["config"]["backend"] == "processes"


def test_a_killed_rollout_process_saves_every_file_in_agreement_then_exits_1(tmp_path, monkeypatch, capsys):
    collect = RolloutProcess.collect
    calls = []

    def kill_the_child_at_the_30th_rollout(self, policy, report):
        calls.append(self)
        if len(calls) == 30:
            self._child.kill()  # as the OOM killer would
        return collect(self, policy, report)

    monkeypatch.setattr(RolloutProcess, "collect", kill_the_child_at_the_30th_rollout)
    flags = ["--train", "--quiet", "--backend", "processes", "--workers", "2", "--seed", "0", *UNTIL_STOPPED]
    code = main([*flags, "--save-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert "failed: RolloutProcessFailed('its rollout process stopped (exit code -9)')" in err
    assert f"what was learned is saved in {tmp_path}" in err
    assert "rollout process stopped" in assert_run_agrees(RunFiles(tmp_path, ENV))["stop_reason"]


def test_sigterm_to_the_whole_process_group_leaves_the_children_to_the_master_which_saves_everything(tmp_path):
    # `timeout` and batch schedulers signal every process of the job: the rollout children must not die
    # of it mid-rollout (the run would end as a worker failure), but wait for the master to close them.
    run, code = sigterm_to_the_group(tmp_path / "group", *UNTIL_STOPPED, "--backend", "processes")
    assert code == 128 + signal.SIGTERM, run.stderr.read_text()[-2000:]
    assert assert_run_agrees(run.files)["stop_reason"] == "interrupted by SIGTERM"
    assert "Traceback" not in run.stderr.read_text()


def answers_of(setup: tuple, policies: list, gradients: bool = False) -> list:
    """Run the child's loop in this process on pickled requests; returns what it answered."""
    requests, answers = io.BytesIO(), io.BytesIO()
    for message in (gradients, setup, *((policy, None) for policy in policies)):
        pickle.dump(message, requests)
    requests.seek(0)
    serve(requests, answers)
    answers.seek(0)
    replies = []
    while answers.tell() < len(answers.getvalue()):
        replies.append(pickle.load(answers))
    return replies


def test_the_child_acts_the_rollout_a_collector_here_would_and_lists_its_vector_steps():
    # FallsLateEnv pays 1 a step and ends every episode at step 50: 4 envs x 30 steps, twice, end
    # exactly 4 episodes (at step 50 of each env), all in the second rollout, whose next vector step
    # is the 4 envs' autoreset: 0 env steps counted.
    config = TrainConfig(envs_per_worker=4, update_freq=30)
    with registered("FallsLate-v0", FallsLateEnv, max_episode_steps=1000) as env_id:
        info = describe_env(env_id)
        policy = build_mlp(info.obs_shape[0], info.n_actions, 8).snapshot()
        first, second = answers_of((config, info, gym.spec(env_id), 5, 6), [policy, policy])
        here = make_collector(config, info, 5, 6)
        expected = [here.collect(policy, lambda n, finished: True) for _ in range(2)]
    assert [n for n, _ in first[1]] == [4] * 30
    assert [n for n, _ in second[1]] == [4] * 20 + [0] + [4] * 9
    for (batch, _, _), want in zip((first, second), expected, strict=True):
        for field in ("states", "actions", "returns", "mask"):
            np.testing.assert_array_equal(getattr(batch, field), getattr(want, field))
    assert [e for _, finished in first[1] for e in finished] == []
    assert second[2] == here.resume_state  # after the same draws
    ended = [(e.episode_return, e.length) for _, finished in second[1] for e in finished]
    assert ended == [(50.0, 50)] * 4


@pytest.mark.parametrize("normalize_obs", [False, True])
def test_a_child_that_differentiates_sends_the_gradients_at_the_weights_it_was_sent(normalize_obs):
    # --gradients workers: the child says it is ready, then acts a rollout at the weights it was sent and
    # sends the rollout's gradients (with a normalizer, the observations' mean, variance and count after
    # them), equal to those taken by hand on the same seeds, with its vector steps and sampling state.
    config = TrainConfig(envs_per_worker=4, update_freq=30, normalize_obs=normalize_obs)
    with registered("FallsLate-v0", FallsLateEnv, max_episode_steps=1000) as env_id:
        info = describe_env(env_id)
        model = build_model(network_for(config, info))  # the child's own model starts from other weights
        weights = flatten(model.snapshot().arrays())
        ready, (gradients, vector_steps, resume_state) = answers_of(
            (config, info, gym.spec(env_id), 5, 6), [weights], gradients=True
        )
        want = gradients_by_hand(config, info, weights, 5, 6)
        here = make_collector(config, info, 5, 6)
        here.collect(model.acting_copy_of_flat(weights), lambda n, finished: True)
    n_weights = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    moments = 2 * info.obs_shape[0] + 1 if normalize_obs else 0
    assert ready == "ready" and gradients.flat.shape == want.shape == (n_weights + moments,)
    np.testing.assert_allclose(gradients.flat, want, rtol=1e-5, atol=1e-7)
    assert np.abs(gradients.flat[:n_weights]).max() > 0 and gradients.stats.grad_norm > 0
    if normalize_obs:  # 4 envs x 30 steps of observations
        assert gradients.flat[-1] == 120.0
    assert [n for n, _ in vector_steps] == [4] * 30 and resume_state == here.resume_state


class BreaksAtStep3(FallsLateEnv):
    def step(self, action):
        if self._t == 2:
            raise ValueError("the env broke")
        return super().step(action)


def first_answer(env_id: str, env_class: type) -> object:
    """What the child answers to one rollout of `env_class`, registered here as `env_id`."""
    config = TrainConfig(envs_per_worker=2, update_freq=5)
    with registered(env_id, env_class, max_episode_steps=1000):
        info = describe_env(env_id)
        policy = build_mlp(info.obs_shape[0], info.n_actions, 8).snapshot()
        (answer,) = answers_of((config, info, gym.spec(env_id), 0, 0), [policy])
    return answer


def test_an_env_that_raises_in_the_child_sends_back_the_env_its_error_and_its_traceback():
    answer = first_answer("Breaks-v0", BreaksAtStep3)
    assert isinstance(answer, EnvFailed)
    assert (answer.env_id, answer.error) == ("Breaks-v0", "ValueError: the env broke")
    assert answer.traceback_text.endswith('    raise ValueError("the env broke")\nValueError: the env broke\n')


def test_a_child_whose_envs_cannot_be_made_answers_every_rollout_with_why():
    info = dataclasses.replace(describe_env(ENV), env_kwargs={"bogus": 1})  # CartPoleEnv takes no such argument
    policy = build_mlp(info.obs_shape[0], info.n_actions, 8).snapshot()
    answers = answers_of((TrainConfig(envs_per_worker=2), info, gym.spec(ENV), 0, 0), [policy, policy])
    assert len(answers) == 2 and all(isinstance(a, TypeError) and "bogus" in str(a) for a in answers)


def test_an_env_registered_at_run_time_is_registered_in_the_child_from_the_parents_spec(tmp_path):
    # FallsLate-v0 exists in this process only (a fresh interpreter has no such id), its class in an
    # importable module: the children register it as this process did, and play its 7-step episodes.
    with registered("FallsLate-v0", FallsLateEnv, max_episode_steps=7) as env_id:
        result = train(env=env_id, seed=0, workers=2, envs_per_worker=2, max_eps=12, backend="processes",
                       save_dir=tmp_path, verbose=False)  # fmt: skip
        rows = list(csv.DictReader(RunFiles(tmp_path, env_id).episodes_csv.open()))
    assert result.episodes == 12 and {(r["return"], r["length"]) for r in rows} == {("7", "7")}
    assert {r["worker"] for r in rows} == {"0", "1"}


def test_an_env_defined_inside_a_function_is_acted_and_checked_here_and_the_user_is_told(tmp_path, capsys):
    class FallsLateHere(FallsLateEnv):  # no other process can import it
        pass

    # every episode is cut at the registered 7 steps: the first look, made here, passes with 7s
    with registered("FallsLateHere-v0", FallsLateHere, max_episode_steps=7, reward_threshold=7.0) as env_id:
        assert registration_for_a_child(describe_env(env_id)) is None
        result = train(env=env_id, seed=0, workers=2, envs_per_worker=2, max_eps=400, eval_episodes=10,
                       backend="processes", save_dir=tmp_path, verbose=True)  # fmt: skip
    assert result.solved and result.stop_reason == "solved"
    np.testing.assert_array_equal(result.best_evaluation.returns, np.full(10, 7.0))
    out = capsys.readouterr().out
    assert "no other process can make it: the workers act in threads and the solved checks run here" in out
    assert "2 workers x 2 envs, as threads of this process" in out and "in a process of its own" not in out


@pytest.mark.parametrize("flags", [["--backend", "processes", "--ray-address", "auto"]])
def test_ray_address_with_the_processes_backend_is_refused_in_one_line(tmp_path, capsys, flags):
    code = main(["--train", *flags, "--save-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--ray-address goes with --backend ray" in err


def test_the_solved_check_plays_an_env_registered_at_run_time_in_its_own_process(tmp_path):
    # The evaluation process, like a worker's, knows FallsLate-v0 only from this process's spec. Every
    # episode is cut at the registered 7 steps, so every greedy return is 7: the first look passes.
    with registered("FallsLateScored-v0", FallsLateEnv, max_episode_steps=7, reward_threshold=7.0) as env_id:
        result = train(env=env_id, seed=0, workers=1, envs_per_worker=2, max_eps=400, eval_episodes=10,
                       save_dir=tmp_path, verbose=False)  # fmt: skip
    assert result.solved and result.stop_reason == "solved"
    np.testing.assert_array_equal(result.best_evaluation.returns, np.full(10, 7.0))


class UnpicklableError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.callback = lambda: None  # pickle cannot send this


class RaisesUnpicklable(FallsLateEnv):
    def step(self, action):
        raise UnpicklableError("the env broke oddly")


def test_an_env_exception_that_cannot_be_pickled_comes_back_as_its_text():
    answer = first_answer("RaisesOddly-v0", RaisesUnpicklable)
    assert isinstance(answer, EnvFailed) and answer.error == "UnpicklableError: the env broke oddly"


def test_no_child_is_offered_an_env_it_could_not_make():
    with registered("FromLambda-v0", lambda: FallsLateEnv(), max_episode_steps=7) as env_id:
        assert registration_for_a_child(describe_env(env_id)) is None
    with registered("FromModule-v0", FallsLateEnv, max_episode_steps=7) as env_id:
        assert registration_for_a_child(describe_env(env_id)) == gym.spec(env_id)
    gym.register("FromMain-v0", entry_point="__main__:Corridor")  # a script's own class, named as a string
    try:
        info = dataclasses.replace(describe_env(ENV), env_id="FromMain-v0")  # describing it would import __main__
        assert registration_for_a_child(info) is None
    finally:
        del gym.registry["FromMain-v0"]


def test_a_resumed_sampling_state_and_reward_scale_reach_the_child_before_its_next_rollout():
    # The child draws from the state it is given and scales rewards from the statistics it is given,
    # exactly as a collector here would from the same state.
    config, info = TrainConfig(envs_per_worker=3, update_freq=6, normalize_reward=True), describe_env(ENV)
    policy = build_mlp(info.obs_shape[0], info.n_actions, 8).snapshot()
    scale = {"mean": 20.0, "var": 16.0, "count": 5000.0}
    resumed = {"rng": np.random.default_rng(12345).bit_generator.state, "reward_scale": scale}
    child = RolloutProcess(config, info, 5, 6, registration=gym.spec(ENV))
    try:
        child.resume_state = resumed
        assert child.resume_state == resumed
        batch = child.collect(policy, lambda n, finished: True)
        after = child.resume_state
    finally:
        child.close()
    here = make_collector(config, info, 5, 6)
    here.resume_state = resumed
    want = here.collect(policy, lambda n, finished: True)
    np.testing.assert_array_equal(batch.actions, want.actions)
    np.testing.assert_array_equal(batch.returns, want.returns)
    assert after == here.resume_state != resumed


def test_a_failure_before_the_workers_start_leaves_no_rollout_process_running(tmp_path, monkeypatch):
    import a3c_cartpole.a3c.master

    children = []
    real_init = RolloutProcess.__init__

    def remember(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        children.append(self._child)

    def board_fails(*args, **kwargs):
        raise OSError("the disk is full")

    monkeypatch.setattr(RolloutProcess, "__init__", remember)
    monkeypatch.setattr(a3c_cartpole.a3c.master, "TrainingBoard", board_fails)
    with pytest.raises(OSError, match="the disk is full"):
        train(env=ENV, seed=0, workers=2, backend="processes", save_dir=tmp_path, verbose=False)
    assert len(children) == 2 and all(child.poll() is not None for child in children)
