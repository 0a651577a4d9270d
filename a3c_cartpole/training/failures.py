"""When a run fails: one line for the console, and the full traceback in a log file beside the run.

A user whose env raised needs to know which env, where it was being played, and what it said; the
traceback is for whoever debugs the env, so it goes to `<env-id>_error.log` in the save dir.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from a3c_cartpole.envs.making import EnvFailed
from a3c_cartpole.training.outputs import atomic_path


def failure_line(where: str | None, err: BaseException) -> str:
    """ "MyEnv-v0 failed in worker 1: ValueError: ...", or "worker 1 failed: <the exception>".

    `where` is None for an error whose message says it all (the evaluation process died)."""
    if isinstance(err, EnvFailed):
        return f"{err.env_id} failed in {where}: {err.error}"
    return str(err) if where is None else f"{where} failed: {err!r}"


def report_failure(where: str | None, err: BaseException, log: Path | None) -> str:
    """The line to print, naming `log` once the traceback is in it.

    An env's traceback is the one formatted where it raised (in whichever process that was). If the
    log cannot be written (the disk is full), the line still says what happened, without pointing there.
    """
    line = failure_line(where, err)
    if log is None:
        return line
    text = err.traceback_text if isinstance(err, EnvFailed) else "".join(traceback.format_exception(err))
    try:
        with atomic_path(log) as tmp:
            tmp.write_text(f"{line}\n\n{text}")
    except OSError:
        return line
    return f"{line} (traceback in {log})"
