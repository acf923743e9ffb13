"""The one clock (bot.clock, issue 17): what MADOGUCHI_NOW means, pinning, and that nothing else
in the product reads the wall clock."""

from __future__ import annotations

import ast
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import clock as bot_clock
from bot.clock import JST

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("bot", "actions", "channels", "deploy")
# Reads of the wall clock: (module or object name, attribute).
WALL_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
}


def wall_clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if (node.value.id, node.attr) in WALL_READS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} from time import {a.name}"
                for a in node.names
                if a.name in ("time", "time_ns", "localtime", "gmtime")
            ]
    return found


def test_only_the_clock_reads_the_wall_clock():
    reads = [
        r
        for top in PRODUCT
        for path in sorted((ROOT / top).rglob("*.py"))
        if path != ROOT / "bot" / "clock.py"
        for r in wall_clock_reads(path)
    ]
    assert reads == []


def test_the_guard_sees_each_kind_of_read(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\nfrom datetime import date, datetime\nfrom time import time as t\n"
        "a = datetime.now()\nb = date.today()\nc = time.time()\nd = datetime.utcnow()\n"
    )
    sample = sample.rename(ROOT / "tests" / f"_guard_probe_{time.monotonic_ns()}.py")
    try:
        assert len(wall_clock_reads(sample)) == 5
    finally:
        sample.unlink()


def test_madoguchi_now_without_an_offset_is_japan_time(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_NOW", "2026-11-30T10:00:00")
    assert bot_clock.now_jst().replace(microsecond=0) == datetime(2026, 11, 30, 10, 0, tzinfo=JST)
    assert bot_clock.now().utcoffset() == timedelta(0)


def test_madoguchi_now_starts_the_clock_which_then_runs(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_NOW", "2026-11-30T10:00:00+09:00")
    first = bot_clock.now()
    time.sleep(0.05)
    second = bot_clock.now()
    assert first >= datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
    assert timedelta(seconds=0.04) <= second - first < timedelta(seconds=5)


def test_a_pinned_clock_stands_still_until_advanced(clock):
    at = clock.pin(datetime(2030, 1, 2, 3, 4, tzinfo=JST))
    time.sleep(0.02)
    assert bot_clock.now() == at and bot_clock.today_jst().isoformat() == "2030-01-02"
    assert clock.advance(timedelta(days=1)) == at + timedelta(days=1)
    assert bot_clock.timestamp() == (at + timedelta(days=1)).timestamp()


def test_pin_wins_over_madoguchi_now(clock, monkeypatch):
    monkeypatch.setenv("MADOGUCHI_NOW", "2026-11-30T10:00:00+09:00")
    at = clock.pin(datetime(2031, 5, 5, 12, tzinfo=JST))
    assert bot_clock.now() == at


def test_without_a_pin_the_clock_is_the_machines():
    assert abs(bot_clock.timestamp() - time.time()) < 2
    assert abs(bot_clock.wall_timestamp() - time.time()) < 2


@pytest.mark.parametrize("years", [0, 3, 10])
def test_staff_notices_queued_now_are_due_now_whatever_the_date(clock, years, tmp_path, monkeypatch):
    """The kind of fault behind issue 17: a flow that stamps rows with one clock and reads them
    with another stops working on some calendar day. Here the date is moved on by years."""
    from bot.services import notify
    from bot.services.notify import deliver_pending, enqueue_new_ticket

    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'madoguchi.db'}")
    for name in ("STAFF_TELEGRAM_CHAT_ID", "STAFF_TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "STAFF_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)

    at = clock.pin(datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365 * years))
    enqueue_new_ticket(1, "normal", None, False)
    assert deliver_pending() == 0  # attempted (Telegram is not configured), so it backs off
    with notify.session_scope() as s:
        row = s.execute(notify.select(notify.NotificationOutbox)).scalars().one()
        assert row.attempts == 1
        assert bot_clock.as_utc(row.next_attempt_at) == at + notify.BACKOFF_BASE
