"""One real stack for the whole fault-test package (Rasa + action server + a fake LINE/Telegram
API, SQLite in a tmp dir). Every test that breaks something puts it back before it ends, so the
next test starts from a healthy stack; the tests that need a second Rasa process share one,
started in the background as soon as the first Rasa is up.

The stack's processes are launched while the production suite runs (tests/early.py: once the
two-instance cluster is up), so that its Rasa loads beside those tests instead of before the
first fault test; `rstack` then waits for it with the same bounds."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests import early
from tests.reliability.helpers import FakeApiThread, ReliabilityStack

SECOND_RASA_MODULE = "test_rasa_instances"


def launch_rstack(config: pytest.Config) -> ReliabilityStack:
    """The stack's processes, started without waiting for them (with its own fake API)."""
    fake = FakeApiThread().start()
    stack = ReliabilityStack(config._tmp_path_factory.mktemp("reliability"), fake)
    stack.write_endpoints()
    stack.launch_actions()
    stack.launch_rasa()
    return stack


def dispose(stack: ReliabilityStack) -> None:
    try:
        stack.stop_all()
    finally:
        stack.fake.stop()


early.plan(early.Early(name="rstack", after="cluster", launch=launch_rstack, dispose=dispose))


@pytest.fixture(scope="package")
def rstack(request: pytest.FixtureRequest) -> Iterator[ReliabilityStack]:
    stack = early.take("rstack") or launch_rstack(request.config)
    try:
        stack.wait_actions()
        stack.wait_rasa()
        if any(SECOND_RASA_MODULE in item.nodeid for item in request.session.items):
            stack.start_second_rasa()  # loads while the other modules run
        yield stack
    finally:
        dispose(stack)
