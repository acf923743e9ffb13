"""`python -m bench --quick` works end to end: the real stack over LINE with the fake LINE API,
every turn answered exactly once, results written (to a temp dir, not bench/results)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.stack


def test_quick_bench_smoke(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--users",
            "1,2",
            "--rates",
            "2",
            "--phase-seconds",
            "3",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    runs = [p for p in tmp_path.glob("*.json")]
    assert len(runs) == 1
    r = json.loads(runs[0].read_text())
    phases = r["e2e"]["closed_loop"] + r["e2e"]["open_loop"]
    assert len(phases) == 3 and all(p["check"]["ok"] for p in phases)
    assert sum(p["check"]["turns"] for p in phases) > 0
    assert r["components"]["parse"]["n"] > 0 and r["components"]["actions"]["calls"] > 0
    assert r["components"]["rss_rest_mb"]["rasa"] > 100
    assert "Targets" in (tmp_path / "latest.md").read_text()
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1
