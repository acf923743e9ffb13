"""One real stack for the whole fault-test package (Rasa + action server + a fake LINE/Telegram
API, SQLite in a tmp dir). Every test that breaks something puts it back before it ends, so the
next test starts from a healthy stack; the tests that need a second Rasa process share one,
started in the background as soon as the first Rasa is up."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.reliability.helpers import FakeApiThread, ReliabilityStack

SECOND_RASA_MODULE = "test_rasa_instances"


@pytest.fixture(scope="package")
def fake_platform() -> Iterator[FakeApiThread]:
    fake = FakeApiThread().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="package")
def rstack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           fake_platform: FakeApiThread) -> Iterator[ReliabilityStack]:
    stack = ReliabilityStack(tmp_path_factory.mktemp("reliability"), fake_platform)
    stack.write_endpoints()
    try:
        stack.start_actions()
        stack.start_rasa()
        if any(SECOND_RASA_MODULE in item.nodeid for item in request.session.items):
            stack.start_second_rasa()  # loads while the other modules run
        yield stack
    finally:
        stack.stop_all()
