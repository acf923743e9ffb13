"""tests/early.py: processes a later group of tests needs are launched once an earlier group's
fixture is up, and the later fixture takes them instead of starting its own (issue 20)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.stack import ROOT

INNER = """
import pytest
from tests import early

LOG = []
early.plan(early.Early(name="later_fx", after="first_fx", launch=lambda config: LOG.append("launched") or "EARLY",
                       dispose=lambda value: LOG.append("disposed " + value)))
early.plan(early.Early(name="unused_fx", after="first_fx", launch=lambda config: LOG.append("unused launched"),
                       dispose=lambda value: None))


@pytest.fixture(scope="module")
def first_fx():
    return 1


@pytest.fixture(scope="module")
def later_fx():
    return early.take("later_fx") or "OWN"


def test_before():
    assert LOG == []


def test_trigger(first_fx):
    assert LOG == ["launched"]  # after the trigger's setup; nothing for a fixture no test uses


def test_taker(later_fx):
    assert later_fx == "EARLY"
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(INNER), encoding="utf-8")
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_inner.py"),
            *args,
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_later_fixture_takes_what_was_launched_after_the_trigger_was_set_up(tmp_path: Path) -> None:
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "3 passed" in proc.stdout


def test_nothing_is_launched_when_no_later_test_needs_it(tmp_path: Path) -> None:
    proc = run(tmp_path, "-k", "not taker")
    assert proc.returncode == 1, proc.stdout[-3000:]  # test_trigger sees no launch: LOG == []
    assert "assert [] == ['launched']" in proc.stdout
