"""One real stack per test session (Rasa + action server on free ports, SQLite in a tmp dir)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack import Stack, stack_env

# Monday 10:00 JST: inside business hours, so slots and staff notes are deterministic.
PINNED_NOW = "2026-11-30T10:00:00+09:00"


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    workdir = tmp_path_factory.mktemp("stack")
    s = Stack(workdir=workdir, env=stack_env(workdir, MADOGUCHI_NOW=PINNED_NOW))
    s.db_path = Path(workdir / "madoguchi.db")  # type: ignore[attr-defined]
    s.write_endpoints()
    s.start_actions()
    s.start_rasa()
    yield s
    s.stop_all()
