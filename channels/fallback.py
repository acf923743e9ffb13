"""What a person sees when a turn produced nothing (action server down, Rasa error).

Never silence and never a stack trace: a short apology, the 24-hour lines and the city's
window, built from the directory so that the numbers are the verified ones.
"""

from __future__ import annotations

from typing import Any, Dict, List

from bot.domain.directory import get_directory
from channels.wording import load_texts


def unavailable_text() -> str:
    d = get_directory()
    hotlines = "\n".join(
        d.fmt("hotline", name=h.name, phone=h.phone, hours=d.fmt("hotline_hours", hours=h.hours) if h.hours else "")
        for h in d.hotlines
    )
    anchor = next((w for w in d.windows if w.anchor), None)
    window = anchor.name + (f" {anchor.dialable_phone}" if anchor and anchor.dialable_phone else "") if anchor else ""
    return load_texts()["unavailable"].format(hotlines=hotlines, window=window).strip()


def unavailable_reply() -> List[Dict[str, Any]]:
    return [{"text": unavailable_text()}]
