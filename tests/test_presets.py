"""Presets: tuned settings per env, shipped as data, under the user's own flags and keywords."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from a3c_cartpole import train
from a3c_cartpole.cli import main
from a3c_cartpole.config import ConfigError, TrainConfig
from a3c_cartpole.presets import NOT_PRESETTABLE, load_presets, resolve_config
from a3c_cartpole.training.outputs import RunFiles

SHORT = dict(workers=1, envs_per_worker=2, max_eps=3, verbose=False)


def test_shipped_presets_cover_the_envs_the_readme_promises_and_only_set_real_options():
    presets = load_presets()
    assert {"CartPole-v1", "CartPole-v0", "Acrobot-v1", "LunarLander-v3"} <= set(presets)
    settable = {f.name for f in dataclasses.fields(TrainConfig)} - NOT_PRESETTABLE
    for env_id, values in presets.items():
        assert values and set(values) <= settable, env_id
        TrainConfig(env_id=env_id, **values)  # every preset is a valid configuration by itself


def test_a_preset_key_that_is_no_option_is_refused_by_name(tmp_path):
    path = tmp_path / "presets.toml"
    path.write_text('["CartPole-v1"]\nlr = 1e-3\nlearning_rate = 2e-3\n')
    with pytest.raises(ValueError, match="learning_rate"):
        load_presets(path)


def test_the_env_preset_fills_what_the_user_left_unsaid_and_the_user_wins():
    preset = load_presets()["CartPole-v1"]
    config = resolve_config({"env_id": "CartPole-v1", "lr": 0.005})
    assert config.preset == "CartPole-v1"
    assert config.lr == 0.005  # given: wins over the preset's value
    assert config.optimizer == preset["optimizer"] and config.hidden == preset["hidden"]  # unsaid: the preset's
    assert config.update_freq == TrainConfig.update_freq  # in neither: the default


def test_preset_none_trains_with_the_plain_defaults():
    config = resolve_config({"env_id": "CartPole-v1"}, "none")
    assert config.preset is None
    assert dataclasses.replace(config, workers=1) == TrainConfig(env_id="CartPole-v1", workers=1)


def test_an_env_without_a_preset_gets_the_defaults_and_another_env_preset_can_be_borrowed():
    assert resolve_config({"env_id": "CliffWalking-v1"}).preset is None
    borrowed = resolve_config({"env_id": "CliffWalking-v1"}, "CartPole-v1")
    assert borrowed.preset == "CartPole-v1" and borrowed.optimizer == load_presets()["CartPole-v1"]["optimizer"]


def test_an_unknown_preset_name_is_one_clear_line():
    with pytest.raises(ConfigError) as caught:
        resolve_config({"env_id": "CartPole-v1"}, "CartPole-v9")
    message = str(caught.value)
    assert "\n" not in message and "'CartPole-v9'" in message and "CartPole-v1" in message and "none" in message


def test_unknown_preset_on_the_command_line_exits_2_with_one_line_before_tensorflow(tmp_path):
    script = (
        "import sys\nfrom a3c_cartpole.cli import main\n"
        f"code = main(['--train', '--preset', 'nope', '--save-dir', {str(tmp_path)!r}])\n"
        "print(code, 'tensorflow' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["2", "False"]
    assert proc.stderr.count("\n") == 1 and "unknown preset 'nope'" in proc.stderr


def test_a_flag_on_the_command_line_overrides_the_preset_and_the_record_keeps_what_was_used(tmp_path, capsys):
    argv = ["--train", "--seed", "0", "--workers", "1", "--envs-per-worker", "2", "--max-eps", "3"]
    assert (
        main([*argv, "--save-dir", str(tmp_path), "--lr", "0.004", "--hidden", "16"]) == 3
    )  # 3 episodes: the budget ends it unsolved
    first_line = capsys.readouterr().out.splitlines()[0]
    assert "(preset CartPole-v1)" in first_line
    record = json.loads(RunFiles(tmp_path, "CartPole-v1").run_record.read_text())
    preset = load_presets()["CartPole-v1"]
    assert record["preset"] == "CartPole-v1"
    assert record["config"]["lr"] == 0.004 and record["hidden"] == 16  # typed by the user
    assert record["config"]["optimizer"] == preset["optimizer"]  # from the preset
    assert record["config"]["activation"] == preset["activation"] == record["activation"]


def test_python_keywords_override_the_preset_like_flags(tmp_path):
    train(env="CartPole-v1", save_dir=tmp_path / "a", seed=0, optimizer="adam", **SHORT)
    record = json.loads(RunFiles(tmp_path / "a", "CartPole-v1").run_record.read_text())
    assert record["config"]["optimizer"] == "adam" and record["preset"] == "CartPole-v1"
    train(env="CartPole-v1", save_dir=tmp_path / "b", seed=0, preset="none", **SHORT)
    record = json.loads(RunFiles(tmp_path / "b", "CartPole-v1").run_record.read_text())
    assert record["preset"] is None and record["config"]["optimizer"] == TrainConfig.optimizer


def test_a_run_that_trains_on_after_a_pass_says_so_in_its_first_line():
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.training.progress import opening_lines

    acrobot = opening_lines(resolve_config({"env_id": "Acrobot-v1", "workers": 2}), describe_env("Acrobot-v1"), 7)
    assert acrobot[0] == (
        "Training A3C on Acrobot-v1 (preset Acrobot-v1), seed 7: solved = a greedy mean >= -100 over 100 episodes, "
        "confirmed over 100 fresh ones with a margin of 2 standard errors; "
        "trains its whole budget (--max-eps 20,000 / --max-steps 500,000) and keeps the best evaluated model."
    )
    cartpole = opening_lines(resolve_config({"workers": 1}), describe_env("CartPole-v1"), 7)
    assert cartpole[0].endswith("; stops when solved, or at --max-eps 20,000.")


def test_the_opening_says_where_workers_act_and_how_to_use_more_cores():
    from a3c_cartpole.envs.spec import describe_env
    from a3c_cartpole.training.progress import opening_lines

    info = describe_env("CartPole-v1")
    threads = opening_lines(resolve_config({"workers": 2}), info, 0)[1]
    assert threads.startswith("2 workers x 8 envs, as threads") and "--backend processes" in threads
    one = opening_lines(resolve_config({"workers": 1}), info, 0)[1]
    assert one.startswith("1 worker x 8 envs") and "--workers N --backend processes" in one
    processes = opening_lines(resolve_config({"workers": 2, "backend": "processes"}), info, 0)[1]
    assert processes == "2 workers x 8 envs, each worker acting in a process of its own."


def test_a_games_preset_takes_gradients_in_worker_processes_unless_the_user_picks_another_backend(capsys):
    breakout = "MinAtar/Breakout-v1"
    preset = resolve_config({"env_id": breakout})
    assert (preset.backend, preset.gradients) == ("processes", "workers")
    # another backend, chosen by the user, leaves the preset's processes-only choice behind
    assert resolve_config({"env_id": breakout, "backend": "threads"}).gradients == "learner"
    assert resolve_config({"env_id": breakout, "backend": "ray"}).gradients == "learner"
    assert resolve_config({"env_id": breakout, "gradients": "learner"}).backend == "processes"
    # asked for outright with a backend where it cannot happen: refused in one line, naming both flags
    with pytest.raises(ConfigError, match="--gradients workers goes with --backend processes"):
        resolve_config({"backend": "threads", "gradients": "workers"})
    assert main(["--train", "--gradients", "workers"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--gradients workers goes with --backend processes" in err
