"""Directory-backed display helpers: window names, need labels, slot labels.

Kept free of Flask so the notifier (bot/services/notify.py, imported by the action server) can use them.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.directory import Directory, get_directory
from bot.domain.labels import t
from bot.domain.schedule import parse_slot_key
from bot.domain.timeutil import to_jst

ANY_SLOT = "any"


def window_name(window_id: str, directory: Directory | None = None) -> str:
    d = directory or get_directory()
    w = d.get(window_id)
    return w.name if w else window_id


def need_label(key: str, directory: Directory | None = None) -> str:
    return (directory or get_directory()).need_label(key)


def slot_label(key: str | None, preferred_at: datetime | None = None, directory: Directory | None = None) -> str | None:
    """「11/28(金) 午前」 in the directory's own format; 「いつでも」 for any; None when unset."""
    d = directory or get_directory()
    if not key:
        return None
    if key == ANY_SLOT:
        return t("slot_any")
    slot = parse_slot_key(key, d.service)
    if slot is None:
        local = to_jst(preferred_at)
        return local.strftime("%m/%d %H:%M") if local else key
    return d.fmt("slot", month=slot.day.month, day=slot.day.day, weekday=d.weekday(slot.day), period=slot.period.label)
