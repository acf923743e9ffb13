"""Business calendar: callback slots, staff hours and recurring 居場所 dates.

All times are Japan time. Business days exclude weekends, national holidays (jpholiday)
and the 年末年始 closure configured in the directory.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import jpholiday

from bot.clock import JST, as_jst, now_jst
from bot.domain.directory import Period, RecurringSchedule, ServiceConfig

# Re-exported: the schedule's callers read Japan time from the one clock.
__all__ = ["JST", "as_jst", "now_jst"]


def _hm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def in_closure(day: date, service: ServiceConfig) -> bool:
    """True inside the year-end closure (it may wrap over 1 January)."""
    md = (day.month, day.day)
    start, end = service.closed_from, service.closed_to
    if start <= end:
        return start <= md <= end
    return md >= start or md <= end


def is_holiday(day: date) -> bool:
    return jpholiday.is_holiday(day)


def is_business_day(day: date, service: ServiceConfig) -> bool:
    return day.weekday() < 5 and not is_holiday(day) and not in_closure(day, service)


def is_business_time(moment: datetime, service: ServiceConfig) -> bool:
    m = as_jst(moment)
    if not is_business_day(m.date(), service):
        return False
    return _hm(service.business_start) <= m.time() < _hm(service.business_end)


def next_business_opening(moment: datetime, service: ServiceConfig) -> datetime:
    """When staff will next be at work (== moment when they are at work now)."""
    m = as_jst(moment)
    if is_business_time(m, service):
        return m
    day = m.date()
    if is_business_day(day, service) and m.time() < _hm(service.business_start):
        return datetime.combine(day, _hm(service.business_start), JST)
    day += timedelta(days=1)
    while not is_business_day(day, service):
        day += timedelta(days=1)
    return datetime.combine(day, _hm(service.business_start), JST)


@dataclass(frozen=True)
class CallbackSlot:
    day: date
    period: Period

    @property
    def key(self) -> str:
        """Short, stable key for buttons (LINE postback / Telegram callback_data ≤ 64 bytes)."""
        return f"{self.day.isoformat()}_{self.period.key}"

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.day, _hm(self.period.start), JST)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.day, _hm(self.period.end), JST)


def callback_slots(moment: datetime, service: ServiceConfig, *, days: int | None = None) -> list[CallbackSlot]:
    """Periods on the next `days` business days with at least an hour of them still ahead."""
    m = as_jst(moment)
    wanted = days or service.callback_days_ahead
    earliest = m + timedelta(hours=1)
    slots: list[CallbackSlot] = []
    day = m.date()
    business_days_seen = 0
    # Bounded: the closure plus a holiday run never exceeds a few weeks.
    for _ in range(60):
        if is_business_day(day, service):
            day_slots = [
                CallbackSlot(day, p) for p in service.periods if datetime.combine(day, _hm(p.end), JST) >= earliest
            ]
            if day_slots:
                slots.extend(day_slots)
                business_days_seen += 1
                if business_days_seen >= wanted:
                    break
        day += timedelta(days=1)
    return slots


def parse_slot_key(key: str, service: ServiceConfig) -> CallbackSlot | None:
    """Inverse of CallbackSlot.key; None for malformed keys or unknown periods."""
    try:
        day_s, period_key = key.strip().split("_", 1)
        day = date.fromisoformat(day_s)
    except ValueError:
        return None
    period = next((p for p in service.periods if p.key == period_key), None)
    return CallbackSlot(day, period) if period else None


def slot_is_bookable(slot: CallbackSlot, moment: datetime, service: ServiceConfig) -> bool:
    """A slot must be on a business day with at least an hour of it still ahead."""
    return is_business_day(slot.day, service) and slot.ends_at >= as_jst(moment) + timedelta(hours=1)


def nth_weekday_of_month(year: int, month: int, weekday: int, n: int) -> date | None:
    days = [d for d in calendar.Calendar().itermonthdates(year, month) if d.month == month and d.weekday() == weekday]
    return days[n - 1] if len(days) >= n else None


def next_occurrences(rule: RecurringSchedule, after: date, count: int = 2) -> list[date]:
    """Next dates of a monthly rule (e.g. 第2・4金曜), skipping national holidays."""
    found: list[date] = []
    year, month = after.year, after.month
    for _ in range(24):
        for n in sorted(rule.weeks):
            d = nth_weekday_of_month(year, month, rule.weekday, n)
            if d and d >= after and not is_holiday(d):
                found.append(d)
                if len(found) == count:
                    return found
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return found
