"""The one clock: every "now" that madoguchi stamps, schedules or compares comes from here.

Three ways to read it:
* `now()` (aware UTC), `now_jst()`, `today_jst()`, `timestamp()` (epoch seconds): our own time.
* `wall_timestamp()`: the machine's real time, only for comparing with times that someone else
  stamped (LINE's event timestamps, Rasa's event timestamps); never for our own records.

Pinning, for demos and tests:
* `MADOGUCHI_NOW` (ISO 8601; a time without an offset is Japan time) starts this process's clock at
  that moment, and the clock runs on from there, so retries and session lifetimes still elapse.
* `pin(moment)` freezes the clock in this process (tests); `advance(delta)` moves a frozen clock.

A time without an offset is Japan time everywhere in madoguchi; a naive value read back from a
database column is UTC (SQLite drops offsets; `bot.store.models.UTCDateTime` writes UTC).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Iterator, Optional

from bot import config

JST = timezone(timedelta(hours=9), "JST")
ENV_PIN = "MADOGUCHI_NOW"  # declared in bot.config

_lock = threading.Lock()
_frozen: Optional[datetime] = None
# (the MADOGUCHI_NOW value, the moment it names, the monotonic reading when first seen)
_anchor: Optional[tuple[str, datetime, float]] = None


def parse_moment(value: str) -> datetime:
    """ISO 8601 → aware UTC; a value without an offset is Japan time."""
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=JST)
    return moment.astimezone(timezone.utc)


def _from_env() -> Optional[datetime]:
    global _anchor
    value = config.settings().text(ENV_PIN).strip()
    if not value:
        return None
    with _lock:
        if _anchor is None or _anchor[0] != value:
            _anchor = (value, parse_moment(value), time.monotonic())
        _, start, seen = _anchor
    return start + timedelta(seconds=time.monotonic() - seen)


def now() -> datetime:
    """The current time, aware, in UTC."""
    frozen = _frozen
    if frozen is not None:
        return frozen
    return _from_env() or datetime.now(timezone.utc)


def now_jst() -> datetime:
    return now().astimezone(JST)


def today_jst() -> date:
    return now_jst().date()


def timestamp() -> float:
    """`now()` as epoch seconds (for stores that keep numbers, such as the ticket spool)."""
    return now().timestamp()


def wall_timestamp() -> float:
    """The machine's real time. Only for comparing with a time another system stamped."""
    return time.time()


def as_utc(moment: datetime) -> datetime:
    """Aware UTC; a naive value is taken as UTC (how SQLite returns stored values)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def as_jst(moment: datetime) -> datetime:
    """Aware Japan time; a naive value is taken as Japan time (what people and settings write)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=JST)
    return moment.astimezone(JST)


def from_timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


@contextmanager
def pinned(moment: datetime) -> Iterator[None]:
    """Freeze the clock at `moment` for the block (a naive value is Japan time)."""
    global _frozen
    before = _frozen
    _frozen = as_jst(moment).astimezone(timezone.utc)
    try:
        yield
    finally:
        _frozen = before


def pin(moment: Optional[datetime]) -> None:
    """Freeze the clock at `moment` (None unfreezes). Tests use the `clock` fixture instead."""
    global _frozen
    _frozen = None if moment is None else as_jst(moment).astimezone(timezone.utc)


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock on; returns the new time."""
    global _frozen
    if _frozen is None:
        raise RuntimeError("advance() needs a pinned clock")
    _frozen = _frozen + delta
    return _frozen
