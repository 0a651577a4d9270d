"""Faults a trusted trainer survives: a full disk, a corrupt checkpoint, an env that raises.

Each fault is injected where it happens on a real machine (a writer raising ENOSPC, a checkpoint's
files overwritten, an env that raises after N steps), and the test looks at the files on disk
afterwards: what was learned is there, nothing half-written is, and `--play` and `--resume` work on
what was left. Stop signals and the network under Ray are in test_ray_faults.py.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import tensorflow as tf

from a3c_cartpole.cli import main
from a3c_cartpole.training.checkpoints import RUN_STATE_KEY
from a3c_cartpole.training.outputs import RunFiles, WriteFailed, atomic_path
from tests.scripted_envs import BrittleCartPole, registered
from tests.test_stopping import assert_run_agrees, episode_numbers, tree

ENV = "CartPole-v1"
BRITTLE = "BrittleCartPole-v0"
TRAIN = ["--train", "--workers", "2", "--seed", "0", "--preset", "none"]
NO_SPACE = "no space left on device"


def no_space(path) -> OSError:
    return OSError(errno.ENOSPC, "No space left on device", str(path))


def one_line(err: str) -> str:
    """The single line a failure prints (the test fails if there is more)."""
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


def run_state(prefix: str) -> dict:
    return json.loads(tf.train.load_variable(prefix, RUN_STATE_KEY).decode())


def checkpoint_files(files: RunFiles) -> list[str]:
    return sorted(p.name for p in files.checkpoints.iterdir())


def assert_resumed_to(files: RunFiles, episodes: int) -> None:
    """CSV, run record and newest checkpoint of a resumed run count `episodes`, numbered without gap.

    TensorBoard is left out: it keeps what it logged past the checkpoint a resumed run went back to."""
    assert episode_numbers(files) == list(range(1, episodes + 1))
    assert json.loads(files.run_record.read_text())["episodes"] == episodes
    assert run_state(tf.train.latest_checkpoint(str(files.checkpoints)))["episodes"] == episodes
    assert files.final_weights.is_file() and files.plot.is_file()


# --- a full disk ----------------------------------------------------------------------------------


def test_a_write_that_fails_names_the_file_and_the_cause_and_leaves_the_old_file(tmp_path):
    target = tmp_path / "CartPole-v1_run.json"
    target.write_text("the earlier record")
    with pytest.raises(WriteFailed) as failed, atomic_path(target) as tmp:
        tmp.write_text("half of the new one")
        raise no_space(tmp)  # as the disk filled up under the write
    assert str(failed.value) == f"cannot write {target}: {NO_SPACE}"
    assert target.read_text() == "the earlier record"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `path` for a block (root only); `remount(path, size)` resizes it."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:  # root in a container without the right to mount (a CI runner)
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount(path: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None, reason="mounts a tmpfs: root"
)
def test_a_disk_that_fills_up_ends_the_run_in_one_line_with_the_best_weights_kept_and_it_resumes_once_freed(
    tmp_path, capsys
):
    with small_disk(tmp_path / "disk", "300k") as disk:
        save_dir = disk / "run"
        files = RunFiles(save_dir, ENV)
        # CartPole's preset network (not the default shape): --play finds it in the run record
        args = [*TRAIN[:5], "--quiet", "--save-dir", str(save_dir)]
        assert main([*args, "--no-early-stop", "--max-eps", "100000"]) == 1
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"a3c-cartpole: error: cannot write {save_dir}/") and line.endswith(NO_SPACE)
        # the room kept while training holds the weights, best (an evaluation ran at the end at least)
        # and final, and the run record, which says what happened
        assert files.best_weights.is_file() and files.final_weights.is_file()
        assert f"a3c-cartpole: error: {json.loads(files.run_record.read_text())['failure']}" == line
        # nothing half-written: no temporary file, no part of a checkpoint, no reserve
        leftovers = [p.name for p in save_dir.rglob("*") if p.name.startswith(f".{ENV}_") or "temp" in p.name]
        assert leftovers == [] and not files.reserve.exists()
        assert main(["--play", "--episodes", "2", "--save-dir", str(save_dir)]) == 0

        remount(disk, "4m")  # space freed
        newest = run_state(tf.train.latest_checkpoint(str(files.checkpoints)))["episodes"]
        assert main([*args, "--resume", "--max-eps", str(newest + 20)]) in (0, 3)
        assert_resumed_to(files, newest + 20)


def test_a_checkpoint_that_meets_a_full_disk_stops_the_run_cleanly_and_the_last_good_one_resumes(
    tmp_path, monkeypatch, capsys
):
    """The third checkpoint write fails as TensorFlow fails on a full disk, after leaving part of its files."""
    files = RunFiles(tmp_path, ENV)
    save = tf.train.CheckpointManager.save
    attempts: list[str] = []
    before_the_failure: dict = {}

    def full_after_two(manager, *args, **kwargs):
        if len(attempts) < 2:
            attempts.append(save(manager, *args, **kwargs))
            return attempts[-1]
        if not before_the_failure:
            before_the_failure.update(tree(files.checkpoints))
        manager._checkpoint.save_counter.assign_add(1)  # TensorFlow counts a save before writing it
        prefix = f"{files.checkpoints}/ckpt-{int(manager._checkpoint.save_counter)}"
        attempts.append(prefix)
        Path(prefix + ".data-00000-of-00001.tempstate1234").write_bytes(b"part of the variables")
        Path(prefix + "_temp").mkdir()
        raise tf.errors.ResourceExhaustedError(None, None, f"{prefix}.data-00000-of-00001; No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_after_two)
    args = [*TRAIN, "--quiet", "--no-early-stop", "--max-eps", "100000", "--checkpoint-every", "20"]
    code = main([*args, "--save-dir", str(tmp_path)])

    assert code == 1
    # the run stopped at the third checkpoint, and the final one (a fourth) met the full disk too
    assert len(attempts) == 4
    failure = f"cannot write {attempts[2]}: {NO_SPACE}"
    assert one_line(capsys.readouterr().err) == f"a3c-cartpole: error: {failure}"
    assert json.loads(files.run_record.read_text())["failure"] == failure
    assert checkpoint_files(files) == sorted(before_the_failure)  # no part-written file or folder is left
    assert tree(files.checkpoints) == before_the_failure  # and the two complete ones are untouched
    assert files.best_weights.is_file() and files.final_weights.is_file()  # written before the checkpoint
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{ENV}_")]  # no temporary file

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)  # space freed
    resumed_at = run_state(attempts[1])["episodes"]
    code = main([*TRAIN, "--quiet", "--resume", "--max-eps", str(resumed_at + 20), "--save-dir", str(tmp_path)])
    assert code in (0, 3)
    assert_resumed_to(files, resumed_at + 20)


def test_with_room_for_one_weights_file_the_best_weights_get_it(tmp_path, monkeypatch, capsys):
    write_bytes = pathlib.Path.write_bytes
    written: list[str] = []

    def room_for_one(path, data):
        if path.name.endswith(".weights.h5"):
            if written:
                raise no_space(path)
            written.append(path.name)
        return write_bytes(path, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", room_for_one)
    files = RunFiles(tmp_path, ENV)
    # CartPole's preset network (not the default shape): --play finds it in the run record
    code = main(["--train", "--quiet", "--workers", "2", "--seed", "0", "--max-eps", "40", "--save-dir", str(tmp_path)])

    assert code == 1
    failure = f"cannot write {files.final_weights}: {NO_SPACE}"
    assert one_line(capsys.readouterr().err) == f"a3c-cartpole: error: {failure}"
    assert files.best_weights.is_file() and not files.final_weights.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{ENV}_")]
    assert json.loads(files.run_record.read_text())["failure"] == failure
    monkeypatch.undo()
    assert main(["--play", "--episodes", "2", "--save-dir", str(tmp_path)]) == 0


# --- a corrupt or partial checkpoint --------------------------------------------------------------


def overwrite_data(prefix: str) -> None:
    """Overwrite a checkpoint's data file with bytes of its own length, as a bad disk or a stray copy would."""
    data = Path(prefix + ".data-00000-of-00001")
    data.write_bytes(b"\x5a" * data.stat().st_size)


def truncate_index(prefix: str) -> None:
    """Cut a checkpoint's index file in half, as a copy or a save interrupted part-way leaves it."""
    index = Path(prefix + ".index")
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished run of 60 episodes with its three checkpoints (newest first), kept to copy from."""
    save_dir = tmp_path_factory.mktemp("checkpointed")
    assert main([*TRAIN, "--quiet", "--max-eps", "60", "--checkpoint-every", "15", "--save-dir", str(save_dir)]) in (
        0,
        3,
    )
    prefixes = sorted(
        (str(p.with_suffix("")) for p in RunFiles(save_dir, ENV).checkpoints.glob("ckpt-*.index")),
        key=lambda prefix: int(prefix.rsplit("-", 1)[1]),
        reverse=True,
    )
    assert len(prefixes) == 3
    return save_dir, prefixes


def copy_of(checkpointed, tmp_path: Path) -> tuple[Path, list[str]]:
    save_dir, prefixes = checkpointed
    shutil.copytree(save_dir, tmp_path / "run")
    return tmp_path / "run", [prefix.replace(str(save_dir), str(tmp_path / "run")) for prefix in prefixes]


@pytest.mark.parametrize("damage", [overwrite_data, truncate_index])
def test_resume_skips_a_damaged_newest_checkpoint_says_so_and_continues_the_one_before(
    checkpointed, tmp_path, capsys, damage
):
    save_dir, (newest, previous, _) = copy_of(checkpointed, tmp_path)
    previous_episodes = run_state(previous)["episodes"]
    damage(newest)

    code = main([*TRAIN, "--resume", "--max-eps", str(previous_episodes + 20), "--save-dir", str(save_dir)])

    out = capsys.readouterr().out
    assert code in (0, 3)
    assert f"Skipped checkpoint {Path(newest).name}: " in out
    assert f"Resuming from {previous}: episode {previous_episodes:,}," in out
    assert_resumed_to(RunFiles(save_dir, ENV), previous_episodes + 20)
    # its checkpoints are numbered past the damaged one, which is never half-replaced
    newest_now = max(int(p.stem.split("-")[1]) for p in RunFiles(save_dir, ENV).checkpoints.glob("ckpt-*.index"))
    assert newest_now > int(newest.rsplit("-", 1)[1])


def test_resume_with_no_readable_checkpoint_is_refused_in_one_line_and_changes_nothing(checkpointed, tmp_path, capsys):
    save_dir, prefixes = copy_of(checkpointed, tmp_path)
    for prefix in prefixes:
        overwrite_data(prefix)
    before = tree(save_dir)

    code = main([*TRAIN, "--resume", "--max-eps", "1000", "--save-dir", str(save_dir)])

    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith(
        f"a3c-cartpole: error: cannot resume: no checkpoint in {RunFiles(save_dir, ENV).checkpoints} reads cleanly"
    )
    assert all(f"{Path(prefix).name}: unreadable run state" in line for prefix in prefixes)
    lock = RunFiles(save_dir, ENV).lock.name  # the folder's lock, taken for the attempt, is not the run's
    assert {k: v for k, v in tree(save_dir).items() if k != lock} == {k: v for k, v in before.items() if k != lock}


# --- an env that raises ---------------------------------------------------------------------------


def assert_env_failure(err: str, save_dir: Path, where: str) -> dict:
    """One line naming the env, where it failed and its error; its traceback in the error log; the run
    saved and its record saying what happened. Returns the run record."""
    files = RunFiles(save_dir, BRITTLE)
    failure = f"{BRITTLE} failed in {where}: RuntimeError: {BrittleCartPole.MESSAGE} (traceback in {files.error_log})"
    assert one_line(err) == f"a3c-cartpole: error: {failure}; what was learned is saved in {save_dir}"
    log = files.error_log.read_text()
    assert "Traceback (most recent call last)" in log and "in step" in log
    assert f"RuntimeError: {BrittleCartPole.MESSAGE}" in log
    record = assert_run_agrees(files)
    assert record["failure"] == failure
    return record


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_an_env_that_raises_in_a_worker_saves_the_run_reports_it_and_the_run_resumes(tmp_path, capsys, backend):
    # each training env fails at its 100th step, long before a policy could be solved (the solved
    # checks' envs never fail)
    kwargs = {"fail_at": 100, "fails_in": "training"}
    with registered(BRITTLE, BrittleCartPole, max_episode_steps=500, reward_threshold=475.0, kwargs=kwargs):
        args = [*TRAIN, "--env", BRITTLE, "--quiet", "--backend", backend, "--save-dir", str(tmp_path)]
        assert main([*args, "--max-eps", "100000"]) == 1
        record = assert_env_failure(capsys.readouterr().err, tmp_path, f"worker {record_worker(tmp_path)}")
        assert record["stop_reason"].startswith("worker ")
        # no evaluation passed, or none ran: the final weights are the model as it stood
        assert RunFiles(tmp_path, BRITTLE).final_weights.is_file()

        assert main([*args, "--resume", "--max-eps", str(record["episodes"] + 10)]) == 3
        assert episode_numbers(RunFiles(tmp_path, BRITTLE)) == list(range(1, record["episodes"] + 11))


def record_worker(save_dir: Path) -> int:
    """The worker whose env failed, as the run record's stop reason names it ("worker 1 failed: ...")."""
    reason = json.loads(RunFiles(save_dir, BRITTLE).run_record.read_text())["stop_reason"]
    return int(reason.split()[1])


def test_an_env_that_raises_in_a_solved_check_saves_the_run_and_reports_it(tmp_path, capsys):
    kwargs = {"fail_at": 1, "fails_in": "evaluation"}
    with registered(BRITTLE, BrittleCartPole, max_episode_steps=500, reward_threshold=475.0, kwargs=kwargs):
        args = [*TRAIN, "--env", BRITTLE, "--quiet", "--no-early-stop", "--max-eps", "100000"]
        assert main([*args, "--save-dir", str(tmp_path)]) == 1
    record = assert_env_failure(capsys.readouterr().err, tmp_path, "the solved check")
    assert record["evaluations"] == [] and record["episodes"] >= 20  # checks start at 20 episodes


def test_an_env_that_raises_in_the_final_evaluation_saves_the_final_model_then_play_reports_its_own_failure(
    tmp_path, capsys
):
    # 15 episodes: too few for a check while training (20), so the final model is the first evaluated
    kwargs = {"fail_at": 1, "fails_in": "evaluation"}
    with registered(BRITTLE, BrittleCartPole, max_episode_steps=500, reward_threshold=475.0, kwargs=kwargs):
        assert main([*TRAIN, "--env", BRITTLE, "--quiet", "--max-eps", "15", "--save-dir", str(tmp_path)]) == 1
        record = assert_env_failure(capsys.readouterr().err, tmp_path, "the final evaluation")
        assert record["episodes"] == 15 and record["evaluations"] == []
        files = RunFiles(tmp_path, BRITTLE)
        assert files.final_weights.is_file() and not files.best_weights.exists()
        # played on training seeds, the env does not fail: --play works on what was left
        assert main(["--play", "--env", BRITTLE, "--episodes", "2", "--save-dir", str(tmp_path)]) == 0
    capsys.readouterr()

    with registered(BRITTLE, BrittleCartPole, max_episode_steps=500, reward_threshold=475.0, kwargs={"fail_at": 5}):
        assert main(["--play", "--env", BRITTLE, "--episodes", "2", "--save-dir", str(tmp_path)]) == 1
    failure = f"{BRITTLE} failed in --play, episode 1: RuntimeError: {BrittleCartPole.MESSAGE}"
    assert one_line(capsys.readouterr().err) == f"a3c-cartpole: error: {failure} (traceback in {files.error_log})"
    assert files.error_log.read_text().startswith(failure)
    assert files.final_weights.is_file()
