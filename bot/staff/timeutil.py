"""Time for the staff app: everything shown in Japan time, everything stored in UTC.

SQLite keeps `DateTime(timezone=True)` values without their offset, so a value read back may be
naive; the convention is that naive values are UTC (see bot/erasure.py). MADOGUCHI_NOW pins
"now" for reproducible tests and demos, as in the action server.
"""
from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta, timezone

from bot.schedule import JST


def now_utc() -> datetime:
    pinned = os.environ.get("MADOGUCHI_NOW")
    if pinned:
        return to_utc(datetime.fromisoformat(pinned))
    return datetime.now(timezone.utc)


def now_jst() -> datetime:
    return now_utc().astimezone(JST)


def to_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def to_jst(moment: datetime | None) -> datetime | None:
    return None if moment is None else to_utc(moment).astimezone(JST)


def jst_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Japanese calendar day, in UTC."""
    start = datetime.combine(day, time(0, 0), JST)
    return start.astimezone(timezone.utc), (start + timedelta(days=1)).astimezone(timezone.utc)


def parse_local(value: str) -> datetime | None:
    """An `<input type=datetime-local>` value (Japan time) → aware UTC; None when malformed."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=JST)
    return parsed.astimezone(timezone.utc)


def fmt(moment: datetime | None, pattern: str = "%Y/%m/%d %H:%M") -> str:
    local = to_jst(moment)
    return local.strftime(pattern) if local else ""
