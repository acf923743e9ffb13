"""Retention periods, and how old a remembered answer really is (no I/O).

A new conversation session carries the person's answers over (actions/session.py), and the
carried values are written again with the new session's time. Each carried value therefore
keeps the time it was first given (`SINCE` in the event's metadata), so that it is carried only
while that time is within the retention period — never renewed by coming back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterable, Mapping

from bot import config

SINCE = "since"


def event_retention() -> timedelta:
    """MADOGUCHI_RETENTION_EVENT_DAYS (default 30): conversations, and what they carry over."""
    return timedelta(days=config.settings().integer("MADOGUCHI_RETENTION_EVENT_DAYS"))


def ticket_retention() -> timedelta:
    """MADOGUCHI_RETENTION_TICKET_DAYS (default 180)."""
    return timedelta(days=config.settings().integer("MADOGUCHI_RETENTION_TICKET_DAYS"))


def _empty(value: Any) -> bool:
    return value is None or value == [] or value is False


def slot_origins(events: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Any, float]]:
    """For each slot with a value: (value, when that value was first given), from tracker events.

    Setting the same value again keeps its first time; a new value starts a new one; a carried
    value brings its time in the metadata.
    """
    origins: dict[str, tuple[Any, float]] = {}
    for event in events:
        if event.get("event") != "slot":
            continue
        name, value = event.get("name"), event.get("value")
        if name is None:
            continue  # Rasa's slot events always name their slot
        since = (event.get("metadata") or {}).get(SINCE)
        if _empty(value):
            origins.pop(name, None)
        elif since is not None:
            origins[name] = (value, float(since))
        elif name in origins and origins[name][0] == value:
            continue
        else:
            origins[name] = (value, float(event.get("timestamp") or 0.0))
    return origins


def still_kept(since: float, now: float, retention: timedelta) -> bool:
    return now - since < retention.total_seconds()
