"""A pytest run that is killed (SIGKILL, SIGTERM) or whose test times out leaves none of the
processes its tests started: the action server started here through tests/stack.py is gone
once the run is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from testing.children import spawn, stop
from tests.stack import ROOT

pytestmark = pytest.mark.stack

INNER = """
import os, time
from pathlib import Path

import pytest

from tests.stack import Stack, stack_env


@pytest.fixture
def stack(tmp_path):  # no teardown: whatever stops the server is the run's own cleanup
    stack = Stack(workdir=tmp_path, env=stack_env(tmp_path))
    stack.start_actions()
    return stack


@pytest.mark.timeout({timeout}, func_only=True)
def test_holds_an_action_server(stack):
    Path(os.environ["CHILD_PID_FILE"]).write_text(str(stack.procs["actions"].pid))
    time.sleep(3600)
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.parametrize("end", ["SIGKILL", "SIGTERM", "timeout"])
def test_no_child_survives_a_killed_or_timed_out_run(tmp_path: Path, end: str) -> None:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER.format(timeout=5 if end == "timeout" else 0)))
    pid_file = tmp_path / "child.pid"
    env = dict(os.environ, PYTHONPATH=str(ROOT), CHILD_PID_FILE=str(pid_file))
    log = open(tmp_path / "inner.log", "ab")
    run = spawn(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout_method=signal",
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists():
            assert run.poll() is None, (tmp_path / "inner.log").read_text()
            assert time.monotonic() < deadline, "the inner run never started its action server"
            time.sleep(0.2)
        child = int(pid_file.read_text())
        assert not _gone(child)
        if end == "timeout":
            run.wait(120)
            assert "Timeout" in (tmp_path / "inner.log").read_text()
        else:
            run.send_signal(getattr(signal, end))
            run.wait(30)
        deadline = time.monotonic() + 15
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(child), f"the action server (pid {child}) outlived the run ended by {end}"
    finally:
        stop(run)
