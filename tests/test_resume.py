"""Checkpoints and --resume: a stopped run continues with no gap, no duplicate, its optimizer state, its
workers' sampling RNGs and its best evaluation."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal

import pytest
import tensorflow as tf

from a3c_cartpole import train as train_with_presets
from a3c_cartpole.a3c.master import MasterAgent
from a3c_cartpole.cli import main
from a3c_cartpole.config import ConfigError, TrainConfig
from a3c_cartpole.training.checkpoints import checkpoint_dir
from a3c_cartpole.training.outputs import RunFiles
from a3c_cartpole.training.tensorboard_log import tensorboard_dir

RUN = dict(workers=1, envs_per_worker=4, seed=5, checkpoint_every=5, verbose=False)


def train(**options):
    """`train` with the plain defaults (no preset), like the TrainConfig-built runs of this file, so a
    run and its resume agree on the network."""
    return train_with_presets(preset="none", **options)


ITERATIONS_KEY = "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"


def csv_rows(save_dir):
    with open(RunFiles(save_dir, "CartPole-v1").episodes_csv, newline="") as handle:
        return list(csv.DictReader(handle))


def latest_checkpoint(save_dir):
    return tf.train.latest_checkpoint(str(checkpoint_dir(save_dir, "CartPole-v1")))


class CtrlCAfter:
    """Stands in for the progress printer and presses Ctrl-C (sends this process SIGINT) once `episodes`
    have been played. Once only: a second stop signal would end the process at once."""

    def __init__(self, episodes: int) -> None:
        self.episodes = episodes
        self.pressed = False

    def start(self, _steps):
        pass

    def update(self, episodes, *_):
        if episodes >= self.episodes and not self.pressed:
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)  # the run's handler notes it; the master's loop stops

    def message(self, _text):
        pass


@pytest.fixture(scope="module")
def stopped_and_resumed(tmp_path_factory):
    """A run interrupted by Ctrl-C after >= 25 episodes, then resumed for 40 more."""
    save_dir = tmp_path_factory.mktemp("resume")
    agent = MasterAgent(TrainConfig(save_dir=save_dir, max_eps=10_000, **RUN))
    agent.progress = CtrlCAfter(25)
    first = agent.train()
    before = {
        "rows": csv_rows(save_dir),
        "iterations": int(tf.train.load_variable(latest_checkpoint(save_dir), ITERATIONS_KEY)),
        "record": json.loads(RunFiles(save_dir, "CartPole-v1").run_record.read_text()),
    }
    second = train(save_dir=save_dir, max_eps=first.episodes + 40, resume=True, **RUN)
    return save_dir, first, before, second


def test_ctrl_c_writes_a_checkpoint_matching_the_episode_log(stopped_and_resumed):
    _, first, before, _ = stopped_and_resumed
    assert first.stop_reason == "interrupted by Ctrl-C"
    assert first.episodes >= 25 and len(before["rows"]) == first.episodes
    assert before["iterations"] == before["record"]["updates"] > 0


def test_resumed_run_continues_episodes_steps_and_clock_without_gap_or_duplicate(stopped_and_resumed):
    save_dir, first, before, second = stopped_and_resumed
    rows = csv_rows(save_dir)
    assert second.episodes == first.episodes + 40
    assert [int(r["episode"]) for r in rows] == list(range(1, first.episodes + 41))
    assert rows[: first.episodes] == before["rows"]  # the old rows, untouched
    steps = [int(r["global_step"]) for r in rows]
    walls = [float(r["wall_time"]) for r in rows]
    assert steps == sorted(steps) and walls == sorted(walls)
    assert int(rows[first.episodes]["global_step"]) > first.steps - 1
    assert second.steps > first.steps and second.seconds > first.seconds


def test_resumed_run_continues_the_optimizer_and_the_update_count(stopped_and_resumed):
    save_dir, _, before, _ = stopped_and_resumed
    after = int(tf.train.load_variable(latest_checkpoint(save_dir), ITERATIONS_KEY))
    record = json.loads(RunFiles(save_dir, "CartPole-v1").run_record.read_text())
    assert after > before["iterations"]
    assert record["updates"] == after  # one optimizer step per global update, across both segments


def test_tensorboard_appends_every_episode_once(stopped_and_resumed):
    from tests.test_tensorboard import read_events

    save_dir, _, _, second = stopped_and_resumed
    events = read_events(tensorboard_dir(save_dir, "CartPole-v1"))
    steps = [step for step, _ in events["charts/episodic_return"]]
    assert len(steps) == second.episodes and steps == sorted(steps)
    assert len(list(tensorboard_dir(save_dir, "CartPole-v1").glob("events.out.tfevents.*"))) == 2


def test_checkpoint_manager_keeps_three(stopped_and_resumed):
    save_dir, *_ = stopped_and_resumed
    assert len(list(checkpoint_dir(save_dir, "CartPole-v1").glob("ckpt-*.index"))) == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [  # from Python, the refusals name keywords; the command line's name flags (below)
        (dict(hidden=32, max_eps=200), "has hidden 100, not 32"),
        (dict(layers=2, max_eps=200), "has layers 1, not 2"),
        (dict(activation="tanh", max_eps=200), "has activation relu, not tanh"),
        (dict(optimizer="rmsprop", max_eps=200), "has optimizer adam, not rmsprop"),
        (dict(env="CartPole-v0", max_eps=200), "there are checkpoints for CartPole-v1"),
        (
            dict(env_kwargs={"sutton_barto_reward": True}, max_eps=200),
            "was trained with env_kwargs none, not sutton_barto_reward=True: give the same env_kwargs",
        ),
        (dict(max_eps=60), "already has .* episodes; give a max_eps above that"),
    ],
)
def test_resume_refuses_a_mismatch_and_keeps_the_files(stopped_and_resumed, options, message):
    save_dir, *_ = stopped_and_resumed
    rows, latest = csv_rows(save_dir), latest_checkpoint(save_dir)
    with pytest.raises(ConfigError, match=message):
        train(save_dir=save_dir, resume=True, **{**RUN, **options})
    assert csv_rows(save_dir) == rows and latest_checkpoint(save_dir) == latest


def test_cli_resume_mismatch_is_one_line_on_stderr(stopped_and_resumed, capsys):
    save_dir, *_ = stopped_and_resumed
    code = main(["--train", "--resume", "--save-dir", str(save_dir), "--hidden", "64", "--max-eps", "200"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "--hidden 100, not 64" in err and "Traceback" not in err


def test_a_run_made_with_env_kwargs_resumes_only_with_the_same_ones(tmp_path):
    # Sutton and Barto's CartPole pays 0 a step and -1 at the end: the same spaces as the default env,
    # so only the stored keyword arguments can tell a resume on the plain env from one on this.
    kwargs = {"sutton_barto_reward": True}
    first = train(save_dir=tmp_path, env_kwargs=kwargs, max_eps=20, **RUN)
    with pytest.raises(ConfigError, match="trained with env_kwargs sutton_barto_reward=True, not none"):
        train(save_dir=tmp_path, resume=True, max_eps=40, **RUN)
    second = train(save_dir=tmp_path, env_kwargs=kwargs, resume=True, max_eps=40, **RUN)
    assert (first.episodes, second.episodes) == (20, 40)
    assert all(float(row["return"]) <= 0 for row in csv_rows(tmp_path))  # every episode on the Sutton-Barto env


def test_resume_without_checkpoint_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(save_dir=tmp_path, resume=True, max_eps=10, **RUN)


def _resume_into_new_global_model(config: TrainConfig):
    """What `MasterAgent.train` does on --resume, stopped before any worker starts."""
    from a3c_cartpole.a3c.global_model import GlobalModel
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.training.checkpoints import TrainingCheckpoints
    from tests.conftest import build_mlp

    info = describe_env(config.env_id)
    model = build_mlp(info.obs_shape[0], info.n_actions, config.hidden, config.layers)
    shared = GlobalModel(model, config, lambda: 0)
    state, episodes = TrainingCheckpoints(config, info, shared, seed=0).resume(RunFiles(config.save_dir, config.env_id))
    return shared, state, episodes


@pytest.mark.parametrize("layers", [0, 1, 2])
def test_resume_restores_exactly_the_weights_the_run_ended_with(tmp_path, layers):
    import numpy as np

    from a3c_cartpole import load_policy

    train(save_dir=tmp_path, max_eps=30, layers=layers, **RUN)
    final = load_policy(RunFiles(tmp_path, "CartPole-v1").final_weights).network.arrays()
    shared, state, episodes = _resume_into_new_global_model(
        TrainConfig(save_dir=tmp_path, max_eps=100, resume=True, lr=2e-3, layers=layers, **RUN)
    )
    assert all(np.array_equal(a, b) for a, b in zip(shared.snapshot().arrays(), final, strict=True))
    assert int(shared.optimizer.iterations) == shared.updates == state.updates > 0
    assert float(shared.optimizer.learning_rate) == pytest.approx(2e-3)  # this invocation's --lr wins
    assert len(episodes) == state.episodes == 30


def test_resumed_linear_schedule_continues_from_the_saved_step_count(tmp_path):
    schedule = dict(lr=1e-3, lr_schedule="linear", **RUN)
    train(save_dir=tmp_path, max_steps=2000, early_stop=False, **schedule)
    # a resume may change the rollout size: the rate follows env steps, not updates
    shared, state, _ = _resume_into_new_global_model(
        TrainConfig(save_dir=tmp_path, max_steps=4000, resume=True, update_freq=7, **schedule)
    )
    assert 2000 <= state.steps < 2000 + RUN["envs_per_worker"]  # the budget overshoots by under one vector step
    assert float(shared.optimizer.learning_rate) == pytest.approx(1e-3 * (1 - state.steps / 4000))


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_resume_gives_each_worker_its_sampling_rng_back_and_keeps_the_best_evaluation(tmp_path, monkeypatch, backend):
    import copy

    import numpy as np

    from a3c_cartpole.a3c import worker
    from a3c_cartpole.evaluation import solved_check as evaluation

    run = {**RUN, "workers": 2, "backend": backend}  # processes: the sampling is the child's
    real_run = worker.Worker.run
    ended, started = {}, {}

    def run_then_remember_the_rng(self):
        real_run(self)
        ended[self.worker_id] = copy.deepcopy(self.rollouts.resume_state)

    monkeypatch.setattr(worker.Worker, "run", run_then_remember_the_rng)
    first = train(save_dir=tmp_path, max_eps=30, **run)
    files = RunFiles(tmp_path, "CartPole-v1")
    best_weights = files.best_weights.read_bytes()

    def remember_the_rng_and_stop(self):  # the resumed workers act no further: nothing to draw
        started[self.worker_id] = copy.deepcopy(self.rollouts.resume_state)
        self.rollouts.close()

    monkeypatch.setattr(worker.Worker, "run", remember_the_rng_and_stop)
    # The resumed run's one evaluation is of its final model, here in this process (no look while its
    # workers stop, which would run in the evaluation process), and scores 1: below any greedy
    # CartPole policy's mean.
    monkeypatch.setattr(evaluation.SolvedCheck, "due", lambda self, *args: False)
    monkeypatch.setattr(evaluation, "run_episodes", lambda env_id, episodes, act, seed: np.ones(episodes))
    second = train(save_dir=tmp_path, max_eps=60, resume=True, **run)

    # each worker starts where its own sampling stopped, not from its seed again
    assert set(ended) == {0, 1} and started == ended
    for i in (0, 1):
        assert ended[i] != np.random.default_rng([run["seed"], i]).bit_generator.state  # it did draw
    # the saved best evaluation is the one to beat: the worse one neither replaces it nor its weights
    assert first.best_evaluation.mean > 1
    np.testing.assert_array_equal(second.best_evaluation.returns, first.best_evaluation.returns)
    assert files.best_weights.read_bytes() == best_weights
    assert json.loads(files.run_record.read_text())["best_eval_mean"] == first.best_evaluation.mean


@pytest.fixture(scope="module")
def solved_run(tmp_path_factory):
    """CartPole-v0 solved with early stop (seed 0: after 9k-33k env steps, tests/test_training.py)."""
    save_dir = tmp_path_factory.mktemp("solved")
    result = train(env="CartPole-v0", save_dir=save_dir, max_steps=150_000, **{**RUN, "workers": 2, "seed": 0})
    assert result.solved
    return save_dir, result


def resume_solved(solved_run, tmp_path, **options):
    """Resume a copy of the solved run, with progress on; returns its result and what it printed."""
    save_dir, _ = solved_run
    shutil.copytree(save_dir, tmp_path, dirs_exist_ok=True)
    screen = io.StringIO()
    config = TrainConfig(env_id="CartPole-v0", save_dir=tmp_path, resume=True, **{**RUN, "verbose": True, **options})
    return MasterAgent(config, progress=screen).train(), screen.getvalue()


@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date:DeprecationWarning")
def test_resuming_a_solved_run_says_so_and_trains_to_the_budget(solved_run, tmp_path):
    solved = solved_run[1]
    budget = solved.episodes + 30
    result, screen = resume_solved(solved_run, tmp_path, max_eps=budget)
    best = solved.best_evaluation
    assert f"This run was solved at episode {solved.solved_at_episode:,} (best greedy mean {best.mean:.1f}" in screen
    assert (
        f"training on to the budget (--max-eps {budget:,}) with early stopping off; "
        "add --stop-when-solved-again to stop at the next passed solved check." in screen
    )
    assert result.episodes == budget and result.stop_reason == f"episode budget of {budget:,} reached"
    assert result.solved and result.solved_at_episode == solved.solved_at_episode


@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date:DeprecationWarning")
def test_stop_when_solved_again_ends_a_resumed_solved_run_at_the_next_passed_check(solved_run, tmp_path):
    solved = solved_run[1]
    result, screen = resume_solved(solved_run, tmp_path, max_eps=solved.episodes + 5000, stop_when_solved_again=True)
    assert "training on until the solved check passes again, or to the budget" in screen
    assert result.stop_reason == "solved again" and "Solved again at episode" in screen
    # the first check may come before any new episode ends: the model it resumed with still passes
    assert solved.episodes <= result.episodes < solved.episodes + 5000


def test_a_resumed_run_keeps_its_seed_and_records_the_seed_of_each_segment(tmp_path):
    options = dict(workers=1, envs_per_worker=2, verbose=False, save_dir=tmp_path)
    first = train(seed=3, max_eps=10, **options)
    second = train(resume=True, max_eps=20, **options)  # no seed given: this segment draws one
    third = train(resume=True, max_eps=30, seed=11, **options)
    record = json.loads(RunFiles(tmp_path, "CartPole-v1").run_record.read_text())
    assert first.seed == second.seed == third.seed == record["seed"] == 3
    assert len(record["segment_seeds"]) == 3 and record["segment_seeds"][0] == 3 and record["segment_seeds"][2] == 11


def test_a_resumed_run_goes_on_with_the_settings_it_was_trained_with_unless_given_others(tmp_path, capsys):
    # Trained with a network, rate and optimizer of its own (no preset has them); resumed with no
    # flag but the budget: it goes on with all of them, and a flag given again is the one used.
    first = dict(hidden=16, layers=2, activation="tanh", optimizer="rmsprop", lr=5e-3, gamma=0.95)
    first.update(normalize_reward=True)
    train(save_dir=tmp_path, max_eps=20, **first, **RUN)
    files = RunFiles(tmp_path, "CartPole-v1")
    assert json.loads(files.settings.read_text())["hidden"] == 16
    trained = (0, 3)  # solved or not: the looks come when the clock allows, and this net learns fast
    assert main(["--train", "--resume", "--save-dir", str(tmp_path), "--max-eps", "40", "--quiet"]) in trained, (
        capsys.readouterr().err
    )
    record = json.loads(files.run_record.read_text())["config"]
    assert {key: record[key] for key in first} == first and record["max_eps"] == 40
    assert record["envs_per_worker"] == 4 and record["checkpoint_every"] == 5  # the first segment's, too
    again = ["--train", "--resume", "--save-dir", str(tmp_path), "--max-eps", "60", "--lr", "1e-3", "--quiet"]
    assert main(again) in trained
    assert json.loads(files.run_record.read_text())["config"]["lr"] == 1e-3
    # what the second segment was trained with is what a third one resumes
    assert json.loads(files.settings.read_text())["lr"] == 1e-3
