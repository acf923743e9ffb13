"""`python -m bot.services.purge --every SECONDS`, the scheduled purge of `make run-production`
(issue #12, finding 11): it runs round after round, survives a failing round, stops on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.security.keys import ROOT


def _run_loop(tmp_path: Path, db_url: str) -> tuple[int, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "MADOGUCHI_VAR_DIR": str(tmp_path),
        "MADOGUCHI_DB_URL": db_url,
        "MADOGUCHI_TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
    }
    out = tmp_path / "purge.out"
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.services.purge", "--every", "0.3"],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and out.read_text().count("purge") < 3 and proc.poll() is None:
            time.sleep(0.2)
        still_running = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert still_running, out.read_text()[-2000:]
    return code, out.read_text()


def test_the_loop_purges_every_interval_until_sigterm(tmp_path):
    code, log = _run_loop(tmp_path, f"sqlite:///{tmp_path / 'madoguchi.db'}")
    assert code == 0 and log.count("purged: tickets=0") >= 2


def test_a_failing_round_is_logged_and_the_loop_goes_on(tmp_path):
    code, log = _run_loop(tmp_path, f"sqlite:///{tmp_path / 'missing' / 'madoguchi.db'}")
    assert code == 0 and log.count("purge failed: OperationalError") >= 2
