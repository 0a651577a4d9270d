"""The Python API a newcomer finds with help() and dir(): train's keywords are the flags, and it is quiet."""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys

import pytest

import a3c_cartpole
from a3c_cartpole.cli import build_parser
from a3c_cartpole.config import ConfigError, TrainConfig, option_flag, option_keyword, python_spelling


def test_train_has_one_keyword_per_option_in_the_options_order():
    parameters = inspect.signature(a3c_cartpole.train).parameters
    assert list(parameters) == [option_keyword(field) for field in dataclasses.fields(TrainConfig)]
    assert list(parameters)[:2] == ["env", "env_kwargs"] and {"lr", "gamma", "seed", "save_dir"} <= set(parameters)
    assert all(p.default is None for p in parameters.values())  # left out: the preset's value, then the default


def test_train_keywords_are_the_flags_of_train():
    flags = {option for action in build_parser()._actions for option in action.option_strings}
    for field in dataclasses.fields(TrainConfig):
        assert option_flag(field) in flags, field.name
        if option_keyword(field) not in ("verbose", "early_stop"):  # --quiet and --no-early-stop say the opposite
            assert option_flag(field) == "--" + option_keyword(field).replace("_", "-")


def test_help_of_train_lists_every_keyword_with_its_default():
    doc = inspect.getdoc(a3c_cartpole.train)
    for field in dataclasses.fields(TrainConfig):
        assert f"\n    {option_keyword(field)}: {python_spelling(field.metadata['help'])}" in doc
    assert "    lr: learning rate (default: 0.001)" in doc and "    env: gymnasium id, or MODULE:ID" in doc


def test_public_names_are_listed():
    assert set(a3c_cartpole.__all__) == {
        "ConfigError",
        "GreedyPolicy",
        "TrainResult",
        "__version__",
        "load_policy",
        "make_env",
        "train",
    }
    assert dir(a3c_cartpole) == sorted(a3c_cartpole.__all__)
    for name in a3c_cartpole.__all__:
        assert getattr(a3c_cartpole, name) is not None
    assert "env_id" in inspect.signature(a3c_cartpole.load_policy).parameters  # SPEC: load_policy(path, env_id=None)


def test_an_unknown_keyword_is_a_type_error_and_a_bad_value_a_config_error(tmp_path):
    with pytest.raises(TypeError, match="env_id"):
        a3c_cartpole.train(env_id="CartPole-v1")
    with pytest.raises(ConfigError, match=r"^lr must be > 0"):
        a3c_cartpole.train(lr=-1.0, save_dir=tmp_path)
    with pytest.raises(ConfigError, match="use Taxi-v4"):
        a3c_cartpole.train(env="Taxi-v3", save_dir=tmp_path)


def test_training_from_python_prints_no_tensorflow_start_up_lines(tmp_path):
    # A user's own process: no TF_CPP_MIN_LOG_LEVEL, nothing imported yet. stderr must stay empty.
    script = (
        "import a3c_cartpole\n"
        f"result = a3c_cartpole.train(save_dir={str(tmp_path)!r}, max_eps=3, workers=1, envs_per_worker=2, "
        "seed=0, verbose=False)\n"
        "print(result.episodes)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "3\n", "")


def test_help_of_train_names_keywords_not_flags():
    doc = inspect.getdoc(a3c_cartpole.train)
    keywords = doc[doc.index("Keywords:") :]
    assert "--" not in keywords and "    seed: seeds all draws (default: random)" in doc
    assert "    lr_schedule: linear: to 0 at max_steps" in doc and "    verbose: " in doc and "(default: False)" in doc


def test_refusals_from_python_name_keywords():
    text = "continue it with --resume, or replace it with --overwrite; --no-early-stop, --quiet, --save-dir, --bogus"
    assert python_spelling(text) == (
        "continue it with resume=True, or replace it with overwrite=True; early_stop=False, verbose=False, "
        "save_dir, --bogus"
    )


def test_readme_snippet_runs_twice_in_a_row_quietly_with_a_short_repr(tmp_path):
    # The README's snippet, at a small budget, in a fresh folder: the second run meets the first's files.
    script = (
        "import a3c_cartpole\n"
        "result = a3c_cartpole.train(env='CartPole-v1', seed=0, overwrite=True, max_eps=3, workers=1,"
        " envs_per_worker=2)\n"
        "print(repr(result))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
        )
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        assert proc.stdout.startswith("TrainResult(solved=False, solved_at_episode=None, episodes=3, steps=")
        assert proc.stdout.endswith(", seed=0, save_dir='a3c_runs')\n") and proc.stdout.count("\n") == 1
    second = subprocess.run(
        [sys.executable, "-c", script.replace(" overwrite=True,", "")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert "continue it with resume=True, or replace it with overwrite=True" in second.stderr
