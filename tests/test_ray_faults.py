"""Faults under `--backend ray`: stop signals save everything, a private instance stays on loopback,
and an env raising in an actor is reported as with threads. Skipped without Ray."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from a3c_cartpole.cli import main
from a3c_cartpole.training.outputs import RunFiles
from tests.scripted_envs import BrittleCartPole
from tests.test_stopping import COMMAND, UNTIL_STOPPED, Training, assert_run_agrees

pytest.importorskip("ray")

# What Ray's own handlers print when they, not the run, take a signal; and Python's.
NOT_OURS = ("SIGTERM received", "SIGHUP received", "PC: @", "Traceback")
LOOPBACK = ("127.0.0.1:", "[::ffff:127.0.0.1]:", "[::1]:")


def process_tree(root: int) -> set[int]:
    """`root` and every process descended from it (Ray's GCS, raylet and workers are)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):  # the process ended meanwhile
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(children.get(pid, []))
    return tree


def listening_addresses(pids: set[int]) -> list[str]:
    """The local address:port of every TCP socket that a process in `pids` listens on (`ss -ltnp`)."""
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split()[3] for line in lines if {int(pid) for pid in re.findall(r"pid=(\d+)", line)} & pids]


@pytest.mark.skipif(shutil.which("ss") is None or not Path("/proc").is_dir(), reason="needs ss and /proc (Linux)")
def test_sigterm_and_sighup_under_ray_save_everything_and_a_private_instance_listens_on_loopback_only(
    tmp_path, monkeypatch
):
    # the test suite keeps its own Ray nodes on loopback with this; the run must do it by itself
    monkeypatch.delenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", raising=False)
    signals = (signal.SIGTERM, signal.SIGHUP)
    runs = {sig: Training(tmp_path / sig.name, *UNTIL_STOPPED, "--backend", "ray") for sig in signals}
    try:
        addresses = []
        for sig, run in runs.items():
            run.wait_until_training()
            addresses += listening_addresses(process_tree(run.process.pid))
            run.process.send_signal(sig)
        codes = {sig: run.finish() for sig, run in runs.items()}
    finally:
        for run in runs.values():
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()

    # each run's GCS, raylet, driver and actors listen, and only on loopback
    assert len(addresses) >= 2 * 4, addresses
    assert all(address.startswith(LOOPBACK) for address in addresses), addresses
    for sig, run in runs.items():
        assert codes[sig] == 128 + sig
        err = run.stderr.read_text()
        assert not [words for words in NOT_OURS if words in err], err
        record = assert_run_agrees(run.files)
        assert record["stop_reason"] == f"interrupted by {sig.name}"
        assert run.files.best_weights.is_file()


def test_an_env_that_raises_in_a_ray_actor_saves_the_run_and_reports_it(tmp_path, capsys):
    env_id = "tests.brittle_env:RayBrittleCartPole-v0"  # the actors import the module, which registers the env
    args = [*COMMAND[3:], "--quiet", "--backend", "ray", "--env", env_id, "--max-eps", "100000"]
    assert main([*args, "--save-dir", str(tmp_path)]) == 1

    files = RunFiles(tmp_path, env_id)
    record = json.loads(files.run_record.read_text())
    worker = int(record["stop_reason"].split()[1])  # "worker 1 failed: ..."
    failure = (
        f"{env_id} failed in worker {worker}: RuntimeError: {BrittleCartPole.MESSAGE} (traceback in {files.error_log})"
    )
    err = capsys.readouterr().err
    assert err.endswith(f"a3c-cartpole: error: {failure}; what was learned is saved in {tmp_path}\n")
    assert "Traceback" not in err
    assert "in step\n    raise RuntimeError(self.MESSAGE)" in files.error_log.read_text()
    assert record["failure"] == failure
    assert_run_agrees(files)
