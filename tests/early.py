"""Processes that a later group of tests needs, started while an earlier group runs (issue 20).

Rasa takes a minute or more to load on these 2-core machines, and a fixture that starts it makes
its first test wait that long. A fixture can instead *take* processes that were launched
(without waiting for them) when an earlier heavy group began: ``tests/conftest.py`` calls
:func:`launch_due` after each test's setup, and the fixture waits for readiness as before, with
the same bounds. The processes are started from pytest's main thread, so they die with the run
like every other child (testing/children.py). ``MADOGUCHI_EARLY_STACK=0`` turns this off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import pytest


@dataclass
class Early:
    name: str  # the fixture that takes the processes
    after: str  # launched once a test that uses this fixture has been set up
    launch: Callable[[pytest.Config], Any]
    dispose: Callable[[Any], None]


_plans: Dict[str, Early] = {}
_launched: Dict[str, Any] = {}
_done: set = set()


def enabled() -> bool:
    return os.environ.get("MADOGUCHI_EARLY_STACK", "1") != "0"


def plan(early: Early) -> None:
    """Register a launcher (from a package's conftest, at collection time)."""
    _plans[early.name] = early


def launch_due(item: pytest.Item) -> None:
    """After ``item``'s setup: launch every planned group whose trigger ``item`` uses and that a
    test still to come needs."""
    if not enabled():
        return
    names = set(getattr(item, "fixturenames", ()))
    for early in list(_plans.values()):
        if early.name in _done or early.after not in names:
            continue
        _done.add(early.name)
        items = item.session.items
        later: List[pytest.Item] = items[items.index(item) + 1 :] if item in items else []
        if early.name in names or not any(early.name in getattr(i, "fixturenames", ()) for i in later):
            continue
        try:
            _launched[early.name] = early.launch(item.config)
        except Exception:  # the fixture starts its own and reports what fails
            pass


def take(name: str) -> Optional[Any]:
    """What was launched early for fixture ``name``, or None (then the fixture starts its own)."""
    _done.add(name)
    return _launched.pop(name, None)


def dispose_all() -> None:
    """At the end of the session: whatever was launched and never taken."""
    for name, value in list(_launched.items()):
        _launched.pop(name, None)
        _plans[name].dispose(value)
