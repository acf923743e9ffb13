"""Shared pytest configuration, and the one real stack that the stack tests share.

The stack (Rasa with REST, LINE and Telegram + the action server, SQLite in a tmp dir, and a
fake LINE/Telegram API on 127.0.0.1 that records every call) starts once per session, on the
first test that asks for it: starting Rasa with GiNZA takes about a minute.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# "dev" keeps the suite fast; CI can set HYPOTHESIS_PROFILE=ci for a deeper search.
settings.register_profile("dev", max_examples=200, deadline=None)
settings.register_profile("ci", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# --- time limits (pytest-timeout, [tool.pytest.ini_options] in pyproject.toml) ----------------
# Fixtures that start processes, with the bound their own start-up code already enforces
# (seconds). pytest-timeout counts fixture setup in the timeout of the first test that uses the
# fixture, so that test gets this much on top of its own limit: a slow Rasa start on a busy
# 2-core CI machine fails with the fixture's own message, not as a test timeout.
SLOW_FIXTURES = {
    "stack": 60 + 420,  # tests/stack.py: action server, then Rasa
    "rstack": 60 + 900,  # tests/reliability: RASA_START_TIMEOUT
    "second": 900,  # tests/reliability: a second Rasa
    "cluster": 900,  # tests/production: testing.cluster.Cluster.start
    "make_run": 60 + 420 + 60,  # tests/run: scripts/run_stack.sh under supervisord
}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    default = float(config.getini("timeout") or 0)
    if not default:
        return
    seen: set[tuple[str, str]] = set()
    for item in items:
        extra = 0.0
        defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
        for name in item.fixturenames:
            if name not in SLOW_FIXTURES or name not in defs:
                continue
            fixturedef = defs[name][-1]
            scope_node = {"session": "", "package": str(item.path.parent), "module": str(item.path)}
            key = (name, scope_node.get(fixturedef.scope, item.nodeid))
            if key not in seen:
                seen.add(key)
                extra += SLOW_FIXTURES[name]
        if extra:
            marker = item.get_closest_marker("timeout")
            own = float(marker.args[0]) if marker and marker.args else default
            item.add_marker(pytest.mark.timeout(own + extra))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Once a test's fixtures are up, start what a later group of tests will need (tests/early.py)."""
    yield
    from tests import early

    early.launch_due(item)


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests import early

    early.dispose_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any):
    """On a timeout inside an event loop, also print where every task of that loop waits (the
    main thread's traceback only shows the loop's select())."""
    yield
    fail = signal.getsignal(signal.SIGALRM) if hasattr(signal, "SIGALRM") else None
    if not callable(fail):
        return

    def on_timeout(signum: int, frame: Any) -> None:
        loop = asyncio._get_running_loop()
        if loop is not None:
            print("\n+++ asyncio tasks at the timeout +++", file=sys.stderr)
            for task in asyncio.all_tasks(loop):
                task.print_stack(file=sys.stderr)
        fail(signum, frame)

    signal.signal(signal.SIGALRM, on_timeout)


# --- the one clock (bot.clock) ---------------------------------------------------------------
class PinnedClock:
    """`clock.pin(moment)` freezes bot.clock for this test; `clock.advance(delta)` moves it on."""

    def pin(self, moment: "datetime") -> "datetime":
        from bot import clock

        clock.pin(moment)
        return clock.now()

    def advance(self, delta: "timedelta") -> "datetime":
        from bot import clock

        return clock.advance(delta)


@pytest.fixture
def clock() -> Any:
    from bot import clock as real_clock

    yield PinnedClock()
    real_clock.pin(None)


@pytest.fixture(autouse=True)
def _no_pinned_clock_leaks() -> Any:
    """A test that pins the clock without the fixture still leaves it running afterwards."""
    yield
    if "bot.clock" in sys.modules:
        sys.modules["bot.clock"].pin(None)


from tests.channels.fake_api import TELEGRAM_TOKEN, FakeApi  # noqa: E402  (after the fixtures that set the environment)
from tests.stack import Stack, stack_env  # noqa: E402

# Monday 10:00 JST: inside business hours, so slots and staff notes are deterministic.
PINNED_NOW = "2026-11-30T10:00:00+09:00"
LINE_SECRET = "line-test-channel-secret"
TELEGRAM_SECRET = "tg-test-secret_token"
STAFF_CHAT_ID = "-1001234567890"


class ThreadedFakeApi:
    """The aiohttp fake API on its own event loop thread, usable from synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.api = FakeApi()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> "ThreadedFakeApi":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.api.start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.api.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="session")
def fake_api() -> ThreadedFakeApi:
    fake = ThreadedFakeApi().start()
    yield fake
    fake.stop()


def _launch_stack(tmp_path_factory, fake_api) -> Stack:
    """The shared stack's processes, started without waiting for them to be ready."""
    workdir = tmp_path_factory.mktemp("stack")
    env = stack_env(
        workdir,
        MADOGUCHI_NOW=PINNED_NOW,
        LINE_CHANNEL_SECRET=LINE_SECRET,
        LINE_CHANNEL_ACCESS_TOKEN="line-test-access-token",
        LINE_API_BASE_URL=fake_api.api.base_url,
        TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
        TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET,
        TELEGRAM_API_BASE_URL=fake_api.api.base_url,
        STAFF_TELEGRAM_CHAT_ID=STAFF_CHAT_ID,
    )
    s = Stack(workdir=workdir, env=env)
    s.db_path = Path(workdir / "madoguchi.db")
    s.write_endpoints()
    s.launch_actions()
    s.launch_rasa()
    return s


_early: dict[str, Stack] = {}


@pytest.fixture(scope="session", autouse=True)
def _launch_the_shared_stack_early(request: pytest.FixtureRequest, tmp_path_factory) -> Any:
    """Rasa takes a minute or more to load. When the session's first test does not need the
    shared stack but a later one does, its processes start now, from the main thread (so they
    die with the run, testing/children.py), and load while the tests before its first user run on
    the other core; `stack` then only waits for them (issue 20). MADOGUCHI_EARLY_STACK=0 turns
    this off."""
    items = request.session.items
    users = [i for i in items if "stack" in getattr(i, "fixturenames", ())]
    if users and users[0] is not items[0] and os.environ.get("MADOGUCHI_EARLY_STACK", "1") != "0":
        _early["stack"] = _launch_stack(tmp_path_factory, request.getfixturevalue("fake_api"))
    yield
    early = _early.pop("stack", None)
    if early is not None:  # launched, never used (its users were deselected or skipped)
        early.stop_all()


@pytest.fixture(scope="session")
def stack(tmp_path_factory, fake_api) -> Stack:
    s = _early.pop("stack", None) or _launch_stack(tmp_path_factory, fake_api)
    try:
        s.wait_actions()
        s.wait_rasa()
        yield s
    finally:
        s.stop_all()
