"""Time for the staff app: everything shown in Japan time, everything stored in UTC.

SQLite keeps `DateTime(timezone=True)` values without their offset, so a value read back may be
naive; the convention is that naive values read back are UTC. "Now" is `bot.clock`'s.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from bot import clock
from bot.clock import JST

now_utc = clock.now
now_jst = clock.now_jst
to_utc = clock.as_utc


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
