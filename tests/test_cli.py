"""The `a3c-cartpole` command end to end: help, version, train, play, record, random, and bad input.

Most tests call `cli.main` in-process; a few run the installed console script / `python -m` in a
subprocess to see exactly what a user's terminal gets (exit code, stdout, stderr) and what is imported.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import a3c_cartpole
from a3c_cartpole.cli import main

ENV = "CartPole-v1"
BIN = Path(sys.executable).parent
SPEC_FLAGS = [
    # SPEC section 2 table
    "--env", "--workers", "--seed", "--max-steps", "--no-early-stop", "--entropy-coef", "--value-coef",
    "--hidden", "--episodes", "--record", "--version",
    # the tutorial's flags
    "--lr", "--update-freq", "--max-eps", "--gamma", "--save-dir", "--algorithm", "--train", "--play",
]  # fmt: skip


def run_cli(argv, capsys):
    """(exit code, stdout, stderr) of one in-process invocation, as the console script would exit."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def tree(directory: Path) -> dict[str, bytes]:
    """Every file under `directory` with its bytes, to prove that nothing was touched."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def user_env(**extra) -> dict[str, str]:
    """The environment of a user's shell: without the test suite's TF_CPP_MIN_LOG_LEVEL, no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(extra)
    return env


def run_fresh_python(script: str) -> subprocess.CompletedProcess:
    """Run `script` in a new interpreter (nothing imported yet) in a user's environment; it must succeed."""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=user_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained through the CLI itself (seeded, one worker, 15k env steps: ~2 s)."""
    save_dir = tmp_path_factory.mktemp("cli_run")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--train", "--quiet", "--seed", "0", "--workers", "1", "--max-steps", "15000",
                     "--save-dir", str(save_dir)])  # fmt: skip
    return save_dir, code, out.getvalue()


@pytest.fixture
def no_display(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


# --- help and version --------------------------------------------------------------------------------


def test_help_exits_zero_and_documents_every_flag(capsys):
    code, out, err = run_cli(["--help"], capsys)
    assert code == 0 and err == ""
    for flag in SPEC_FLAGS:  # whole flags: "--env" must not be found inside "--envs-per-worker"
        assert re.search(rf"(?<![\w-]){flag}(?![\w-])", out), flag
    text = " ".join(out.split())  # argparse wraps lines
    # defaults shown: the tutorial's gamma, loss weights and hidden size, the default env and save dir
    for default in ("0.99", "CartPole-v1", "a3c_runs", "0.01", "0.5", "100"):
        assert f"(default: {default})" in text, default
    # unset options and switches describe themselves: no "(default: None)" or "(default: False)"
    assert "(default: None)" not in text and "(default: False)" not in text


def test_help_fits_two_screens_with_each_default_once(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # a plain terminal
    code, out, _ = run_cli(["--help"], capsys)
    lines = out.splitlines()
    assert code == 0 and len(lines) <= 70 and max(map(len, lines)) <= 80
    assert lines[0] == "usage: a3c-cartpole [--train | --play | --algorithm random] [options]"
    text = " ".join(out.split())
    assert text.count("(default: CartPole-v1)") == 1 and "(one per CPU by default)" not in text
    assert "(default: one per CPU)" in text and f"(default: {os.cpu_count()})" not in text


def test_no_arguments_print_a_short_usage_and_exit_2(capsys):
    code, out, err = run_cli([], capsys)
    assert code == 2 and out == ""
    usage, error = err.splitlines()
    assert usage == "usage: a3c-cartpole [--train | --play | --algorithm random] [options]"
    assert error.startswith("a3c-cartpole: error:") and "--train" in error and "--play" in error


def test_a_flag_without_a_mode_is_the_same_usage_error(capsys):
    code, out, err = run_cli(["--env", "Acrobot-v1"], capsys)
    assert code == 2 and out == "" and err.startswith("usage: a3c-cartpole")


def test_version(capsys):
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out == f"a3c-cartpole {a3c_cartpole.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", a3c_cartpole.__version__)


def test_console_script_help_in_a_subprocess():
    proc = subprocess.run([BIN / "a3c-cartpole", "--help"], capture_output=True, text=True, env=user_env(), timeout=120)
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith("usage: a3c-cartpole") and "--max-eps" in proc.stdout


def test_python_dash_m_version_in_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "a3c_cartpole", "--version"], capture_output=True, text=True, env=user_env(), timeout=120
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"a3c-cartpole {a3c_cartpole.__version__}\n", "")


def test_help_version_and_flag_errors_do_not_import_tensorflow():
    # TensorFlow takes seconds to load: answering --help, --version or a bad flag must not wait for it.
    script = (
        "import sys\n"
        "from a3c_cartpole.cli import build_parser, main\n"
        "build_parser()\n"
        "for argv in (['--help'], ['--version'], ['--lr', 'abc'], ['--bogus']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "main(['--train', '--workers', '0'])\n"
        "print('tensorflow' in sys.modules, file=sys.stderr)\n"
    )
    assert run_fresh_python(script).stderr.splitlines()[-1] == "False"


def test_tensorflow_loads_without_matplotlib_which_stays_importable():
    # Keras imports matplotlib.pyplot while it loads if it can (0.4 s of every run's start); the plot is
    # drawn in the evaluation process, so the training process keeps matplotlib out until it needs it.
    script = (
        "import sys\n"
        "from a3c_cartpole.tf_setup import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "print('tensorflow' in sys.modules, 'matplotlib' in sys.modules)\n"
        "from a3c_cartpole.training.outputs import load_pyplot\n"
        "print(load_pyplot().__name__)\n"
    )
    assert run_fresh_python(script).stdout.splitlines() == ["True False", "matplotlib.pyplot"]


# --- train and play ---------------------------------------------------------------------------------


def test_cli_train_writes_the_run_and_prints_only_the_summary(trained):
    save_dir, code, out = trained
    assert code == (0 if out.startswith("SOLVED") else 3)  # 3: trained to the budget without solving
    for suffix in ("_best.weights.h5", "_final.weights.h5", "_episodes.csv", "_returns.png", "_run.json"):
        assert (save_dir / f"{ENV}{suffix}").is_file(), suffix
    lines = out.strip().splitlines()
    # --quiet: no live progress, just the closing summary: verdict, the model kept, counts, where the files are
    assert len(lines) == 4, out
    assert lines[0].startswith(("SOLVED", "NOT SOLVED")) and str(save_dir) in lines[3]


def expected_play(save_dir, episodes):
    """Scores of the saved policy on seeds 0..episodes-1, played with plain gymnasium."""
    policy = a3c_cartpole.load_policy(save_dir, ENV)
    env = gym.make(ENV)
    scores = []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total, done = total + reward, terminated or truncated
        scores.append(total)
    return scores


def test_play_without_display_prints_each_episode_and_the_verdict(trained, capsys, no_display):
    save_dir = trained[0]
    code, out, err = run_cli(["--play", "--episodes", "3", "--save-dir", save_dir], capsys)
    assert code == 0, err
    scores = expected_play(save_dir, 3)
    lines = out.splitlines()
    assert any("display" in line.lower() for line in lines)  # says why there is no window
    assert [line for line in lines if line.startswith("episode ")] == [
        f"episode {i + 1}: return {s:g}" for i, s in enumerate(scores)
    ]
    side = "at or above" if np.mean(scores) >= 475 else "below"
    summary = lines[-1]
    assert f"mean {np.mean(scores):.1f} ± {np.std(scores):.1f}" in summary and "over 3 episodes" in summary
    # three episodes are no verdict: the solved check plays 100
    assert summary.endswith(
        f"; {side} the solved threshold of 475, but solved is judged over 100 episodes (--episodes 100)"
    )


def test_play_records_a_gif(trained, capsys, tmp_path, no_display):
    from PIL import Image, ImageSequence

    save_dir = trained[0]
    before = tree(save_dir)
    gif = tmp_path / "out.gif"
    code, out, err = run_cli(["--play", "--episodes", "1", "--record", gif, "--save-dir", save_dir], capsys)
    assert code == 0, err
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    # A GIF keeps the frame before steps 0, 2, 4, ... of each episode: ceil(length / 2) frames, each
    # shown 1/25 s (CartPole renders at 50 fps). Pillow merges identical consecutive frames into one
    # longer frame, so the frame count may be lower, but the total duration may not.
    length = int(expected_play(save_dir, 1)[0])  # the episode's length, played with plain gymnasium
    assert f"episode 1: return {length}\n" in out
    kept = (length + 1) // 2
    assert f"Recorded 1 episode ({kept} frames) to {gif}\n" in out
    with Image.open(gif) as image:
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(image)]
    assert kept // 2 < len(durations) <= kept and sum(durations) == kept * 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.gif"]  # no temporary file left
    assert tree(save_dir) == before  # playing never writes into the save dir


@pytest.mark.filterwarnings("ignore:.*CartPole-v0 is out of date:DeprecationWarning")
def test_train_then_play_another_env_and_network_size(tmp_path, capsys, no_display):
    # CartPole-v0 with 16 hidden units: --play must rebuild that network from the run record and
    # judge against v0's threshold (195), not v1's.
    code, out, err = run_cli(
        ["--train", "--quiet", "--env", "CartPole-v0", "--hidden", "16", "--max-eps", "20", "--workers", "1",
         "--seed", "3", "--save-dir", tmp_path],
        capsys,
    )  # fmt: skip
    assert code == 3, err  # 20 episodes: the budget ends it unsolved
    assert (tmp_path / "CartPole-v0_best.weights.h5").is_file()
    code, out, err = run_cli(["--play", "--env", "CartPole-v0", "--episodes", "2", "--save-dir", tmp_path], capsys)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("CartPole-v0: mean") and "threshold of 195" in out


def test_gae_lambda_flag_reaches_every_worker_rollout(tmp_path, capsys, monkeypatch):
    # threads, whose collectors are made here (a worker process's gets the same config: test_rollout_process.py)
    from a3c_cartpole.a3c import rollout

    lambdas = []

    class RecordingCollector(rollout.RolloutCollector):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            lambdas.append(self.lam)

    monkeypatch.setattr(rollout, "RolloutCollector", RecordingCollector)
    code, _, err = run_cli(
        ["--train", "--quiet", "--gae-lambda", "0.9", "--workers", "2", "--envs-per-worker", "2", "--max-eps", "4",
         "--seed", "0", "--backend", "threads", "--save-dir", tmp_path],
        capsys,
    )  # fmt: skip
    assert code == 3, err  # the budget ends it unsolved
    assert lambdas == [0.9, 0.9]


def test_random_baseline_average(capsys):
    code, out, err = run_cli(["--algorithm=random", "--max-eps=400"], capsys)
    assert code == 0, err
    match = re.search(r"average score (\d+(?:\.\d+)?)", out)
    # uniformly random CartPole: ~22 per episode, std ~12 -> std error over 400 episodes ~0.6
    assert match and 15 <= float(match.group(1)) <= 30 and "400 episodes" in out


# --- bad input: one line on stderr, non-zero exit, no traceback, nothing destroyed --------------------

TRAIN_SMALL = ["--train", "--workers", "1", "--max-eps", "3"]  # if a check were missing: a tiny run, not 5000 eps

BAD_TRAIN_INPUTS = {
    "unknown flag": (["--bogus"], "--bogus"),
    "unknown env": (["--env", "NoSuchEnv-v0", *TRAIN_SMALL], "NoSuchEnv-v0"),
    "continuous actions": (["--env", "Pendulum-v1", *TRAIN_SMALL], "Pendulum-v1"),
    "zero workers": (["--train", "--workers", "0", "--max-eps", "3"], "--workers"),
    "negative max-eps": (["--train", "--workers", "1", "--max-eps", "-1"], "--max-eps"),
    "zero max-steps": ([*TRAIN_SMALL, "--max-steps", "0"], "--max-steps"),
    "zero lr": ([*TRAIN_SMALL, "--lr", "0"], "--lr"),
    "negative lr": ([*TRAIN_SMALL, "--lr", "-1"], "--lr"),
    "zero gamma": ([*TRAIN_SMALL, "--gamma", "0"], "--gamma"),
    "gamma above one": ([*TRAIN_SMALL, "--gamma", "1.5"], "--gamma"),
    "lr not a number": ([*TRAIN_SMALL, "--lr", "abc"], "abc"),
    "record without play": ([*TRAIN_SMALL, "--record", "x.gif"], "--record"),
    "zero play episodes": (["--play", "--episodes", "0"], "--episodes"),
}


def assert_one_line_error(code, out, err, mention):
    assert code not in (0, None), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("a3c-cartpole: error:"), err
    assert mention in err, (mention, err)


@pytest.mark.parametrize("case", list(BAD_TRAIN_INPUTS))
def test_bad_input_is_one_line_and_keeps_earlier_results(case, trained, capsys, monkeypatch, tmp_path):
    argv, mention = BAD_TRAIN_INPUTS[case]
    save_dir = trained[0]
    monkeypatch.chdir(tmp_path)  # a relative path (x.gif, a3c_runs) must not land in the repo
    before = tree(save_dir)
    code, out, err = run_cli([*argv, "--save-dir", save_dir], capsys)
    assert_one_line_error(code, out, err, mention)
    assert out == ""
    assert tree(save_dir) == before  # every earlier file still there, byte for byte, and nothing added
    assert list(tmp_path.iterdir()) == []


def test_play_with_no_saved_model_says_how_to_train(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("my notes")
    code, out, err = run_cli(["--play", "--save-dir", tmp_path], capsys)
    assert_one_line_error(code, out, err, "--train")
    assert tree(tmp_path) == {"notes.txt": b"my notes"}


def test_play_before_any_training_says_how_to_train(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["--play"], capsys)  # default --save-dir a3c_runs, never created
    assert_one_line_error(code, out, err, "--train")


def test_play_with_corrupt_weights_file_is_one_line(trained, tmp_path, capsys):
    bad = tmp_path / f"{ENV}_best.weights.h5"
    bad.write_bytes(b"\x00garbage, not HDF5\xff" * 100)
    before = tree(tmp_path)
    code, out, err = run_cli(["--play", "--episodes", "1", "--save-dir", tmp_path], capsys)
    assert_one_line_error(code, out, err, str(bad))
    assert tree(tmp_path) == before


def test_play_with_weights_of_another_env_is_one_line(trained, tmp_path, capsys):
    # CartPole weights (4 inputs, 2 actions) under Acrobot's name (6 inputs, 3 actions)
    (tmp_path / "Acrobot-v1_best.weights.h5").write_bytes((trained[0] / f"{ENV}_best.weights.h5").read_bytes())
    before = tree(tmp_path)
    code, out, err = run_cli(["--play", "--env", "Acrobot-v1", "--episodes", "1", "--save-dir", tmp_path], capsys)
    assert_one_line_error(code, out, err, "Acrobot-v1")
    assert tree(tmp_path) == before


def test_unwritable_save_dir_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    code, out, err = run_cli([*TRAIN_SMALL, "--save-dir", blocker / "sub"], capsys)
    assert_one_line_error(code, out, err, str(blocker / "sub"))
    assert tree(tmp_path) == {"file.txt": b"not a directory"}


def test_record_to_unsupported_format_is_one_line(trained, tmp_path, capsys, no_display):
    save_dir = trained[0]
    before = tree(save_dir)
    code, out, err = run_cli(["--play", "--record", tmp_path / "x.avi", "--save-dir", save_dir], capsys)
    assert_one_line_error(code, out, err, "x.avi")
    assert not (tmp_path / "x.avi").exists() and list(tmp_path.iterdir()) == []
    assert tree(save_dir) == before


def test_bad_input_in_a_real_process_is_one_line_on_stderr(tmp_path):
    # The whole process's stderr, as a user's terminal gets it: no traceback, no warnings, just the one line.
    proc = subprocess.run(
        [BIN / "a3c-cartpole", "--env", "NoSuchEnv-v0", "--train", "--save-dir", tmp_path / "runs"],
        capture_output=True,
        text=True,
        env=user_env(),
        timeout=300,
    )
    assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, "NoSuchEnv-v0")
    assert proc.stdout == "" and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("config_dir", ["writable", "no home", "no home, matplotlib imported first", "unwritable"])
def test_a_run_leaves_nothing_in_the_temp_dir(tmp_path, config_dir):
    # The command exits without the interpreter's exit hooks (cli.entry), so nothing may count on them
    # to delete a temp file: TensorFlow's autograph and the plot's warm-up each left one a run, and
    # matplotlib, given no writable config dir (HOME=/dev/null or MPLCONFIGDIR=/dev/null/mpl: none
    # can be made there, even by root), keeps its font cache in a temp dir of its own that only an
    # exit hook deletes -- made in the command's process too where an env's module imports
    # matplotlib (MinAtar's does), before any plot.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = user_env(TMPDIR=str(scratch), MPLCONFIGDIR=str(tmp_path / "mpl"))
    if config_dir != "writable":
        env.update(HOME="/dev/null", MPLCONFIGDIR="/dev/null/mpl")
        env.pop("XDG_CONFIG_HOME", None)
        env.pop("XDG_CACHE_HOME", None)
        if config_dir.startswith("no home"):
            del env["MPLCONFIGDIR"]
    package = []
    if config_dir.endswith("imported first"):
        (tmp_path / "imports_matplotlib.py").write_text("import matplotlib\n")
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
        package = ["--env-package", "imports_matplotlib"]
    proc = subprocess.run(
        [
            BIN / "a3c-cartpole",
            "--train",
            *package,
            "--max-steps",
            "2000",
            "--seed",
            "0",
            "--quiet",
            "--save-dir",
            tmp_path / "runs",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode in (0, 3), proc.stderr  # solved, or the budget ended first: a model either way
    assert (tmp_path / "runs" / "CartPole-v1_best.weights.h5").is_file()
    assert (tmp_path / "runs" / "CartPole-v1_returns.png").is_file()
    assert list(scratch.iterdir()) == []


def test_headless_recording_prints_nothing_on_stderr(trained, tmp_path):
    env = user_env()
    env.pop("XDG_RUNTIME_DIR", None)
    proc = subprocess.run(
        [BIN / "a3c-cartpole", "--play", "--episodes", "1", "--record", tmp_path / "x.gif", "--save-dir", trained[0]],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0 and (tmp_path / "x.gif").is_file()
    assert proc.stderr == ""


@pytest.mark.parametrize("below", ["", "sub"])
def test_save_dir_that_is_a_file_is_named_as_a_file(tmp_path, capsys, below):
    blocker = tmp_path / "results"
    blocker.write_text("my notes")
    code, out, err = run_cli([*TRAIN_SMALL, "--save-dir", blocker / below], capsys)
    assert_one_line_error(code, out, err, f"{blocker} is a file")
    assert tree(tmp_path) == {"results": b"my notes"}


# --- every command a refusal of --play suggests works in that situation -------------------------------

SHORT = ["--workers", "1", "--max-steps", "400", "--quiet"]  # appended to a suggestion: a budget, nothing else


def _stopped_before_weights(save_dir: Path) -> None:
    """A run that left checkpoints but no weights or record (as if killed mid-run)."""
    assert main(["--train", "--seed", "0", "--save-dir", str(save_dir), *SHORT, "--max-steps", "200"]) == 3
    for path in [*save_dir.glob("*.weights.h5"), *save_dir.glob("*_run.json")]:
        path.unlink()


def _episodes_only(save_dir: Path) -> None:
    """A run that left its episode log and nothing to resume."""
    save_dir.mkdir()
    (save_dir / f"{ENV}_episodes.csv").write_text("episode,worker,return,length,global_step,wall_time\n")


PLAY_SITUATIONS = {
    "no folder, another env": (lambda d: None, ["--env", "Acrobot-v1"], "train one first"),
    "empty folder": (lambda d: d.mkdir(), [], "train one first"),
    "env kwargs": (lambda d: None, ["--env", "FrozenLake-v1", "--env-kwargs", "map_name=8x8"], "train one first"),
    "stopped before weights": (_stopped_before_weights, [], "--resume"),
    "no checkpoint": (_episodes_only, [], "--overwrite"),
}


@pytest.mark.parametrize("situation", list(PLAY_SITUATIONS))
def test_play_refusal_suggests_a_command_that_works(situation, tmp_path, capsys, no_display):
    prepare, env_flags, advice = PLAY_SITUATIONS[situation]
    save_dir = tmp_path / "runs dir"  # a space: the command must be quoted for the shell
    prepare(save_dir)
    play = ["--play", "--episodes", "1", *env_flags, "--save-dir", save_dir]
    code, out, err = run_cli(play, capsys)
    assert_one_line_error(code, out, err, advice)
    suggested = shlex.split(err[err.index(": a3c-cartpole --train ") + 2 :])
    code, _, err = run_cli([*suggested[1:], *SHORT], capsys)
    assert code in (0, 3), err  # trained (solved or not): the suggestion was accepted
    code, out, err = run_cli(play, capsys)
    assert code == 0 and "episode 1: return" in out, err


@pytest.mark.parametrize("make_dir", [False, True])
def test_play_of_an_unknown_env_says_so_rather_than_suggest_training_it(make_dir, tmp_path, capsys):
    # "train one first: a3c-cartpole --train --env CartPole" would only fail on the id too
    if make_dir:
        tmp_path.joinpath("runs").mkdir()
    code, out, err = run_cli(["--play", "--env", "CartPole", "--save-dir", tmp_path / "runs"], capsys)
    assert_one_line_error(code, out, err, "unknown environment 'CartPole'")
    assert "--train" not in err


def test_play_while_the_run_trains_says_to_wait_for_it(tmp_path, capsys):
    from a3c_cartpole.training.outputs import RunFiles
    from a3c_cartpole.training.run_lock import RunLock

    tmp_path.joinpath("checkpoints", ENV).mkdir(parents=True)
    tmp_path.joinpath("checkpoints", ENV, "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    with RunLock(RunFiles(tmp_path, ENV).lock, "a run"):  # held as a training run holds it
        code, out, err = run_cli(["--play", "--save-dir", tmp_path], capsys)
    assert_one_line_error(code, out, err, f"training there now (pid {os.getpid()})")
    assert "--resume" not in err and "--overwrite" not in err


def test_play_judges_as_the_run_was_judged_its_target_score_and_episodes_per_check(tmp_path, capsys, no_display):
    # A run solved at --target-score 30 with 4-episode checks: --play judges by 30 (not CartPole's
    # 475) and gives a verdict over 4 episodes, where 3 are too few.
    train = ["--train", "--seed", "0", "--target-score", "30", "--eval-episodes", "4", "--save-dir", tmp_path]
    code, _, err = run_cli([*train, "--workers", "1", "--max-steps", "400", "--quiet"], capsys)
    assert code in (0, 3), err
    assert a3c_cartpole.load_policy(tmp_path).info.reward_threshold == 30
    for episodes, words in (
        ("4", ["the solved threshold of 30"]),
        ("3", ["the solved threshold of 30, but", "over 4"]),
    ):
        code, out, err = run_cli(["--play", "--episodes", episodes, "--save-dir", tmp_path], capsys)
        summary = out.splitlines()[-1]
        assert code == 0 and all(w in summary for w in words) and (", but" in summary) == (episodes == "3"), err


def test_train_refuses_the_play_episode_count_and_names_its_own(tmp_path, capsys):
    code, out, err = run_cli(["--train", "--episodes", "5", "--save-dir", tmp_path / "runs"], capsys)
    assert_one_line_error(code, out, err, "to train N episodes: --max-eps N")
    assert not (tmp_path / "runs").exists()


def test_random_baseline_refuses_two_different_episode_counts(capsys):
    code, out, err = run_cli(["--algorithm=random", "--max-eps=40", "--episodes=10"], capsys)
    assert_one_line_error(code, out, err, "--max-eps 40 and --episodes 10")
    code, out, err = run_cli(["--algorithm=random", "--max-eps=40", "--episodes=40"], capsys)
    assert code == 0 and "over 40 episodes" in out, err


def test_help_gives_the_seed_one_default_and_numbers_one_style(capsys):
    _, out, _ = run_cli(["--help"], capsys)
    text = " ".join(out.split())
    assert "(default: random to train, else 0)" in text and "default 0" not in text
    assert "(default: 20,000)" in text and "(default: 20000)" not in text  # --max-eps, as messages print it
