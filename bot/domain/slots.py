"""Reading the callback booking's free-text answers: which offered slot, which contact method,
any time at all, and a nickname fit for staff screens. Plain Python over normalised text."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Optional, Sequence

from bot.domain.schedule import CallbackSlot
from bot.language.normaliser import normalize

ANY_SLOT = "any"
NO_NICKNAME = "-"
MAX_NICKNAME = 20
_PERIOD_WORDS = {"am": re.compile(r"午前|朝|あさ|ごぜん"), "pm": re.compile(r"午後|昼|ひる|夕方|ごご")}
_DATE = re.compile(r"(\d{1,2})\s*[/月]\s*(\d{1,2})")
_DAY_ONLY = re.compile(r"(?<![\d/月])(\d{1,2})\s*日")
_TOMORROW = re.compile(r"明日|あした|あす")
_EARLIEST = re.compile(r"(一番|いちばん)早い|早いほう|最短|すぐ")
_PHONE_WORDS = re.compile(r"電話|でんわ|TEL|tel|携帯|けいたい")
_CHAT_WORDS = re.compile(r"チャット|ちゃっと|ライン|LINE|line|ここ|メッセージ|テレグラム|Telegram|トーク|文字")
_ANY_TIME = re.compile(r"いつでも|どこでも|何時でも|なんじでも|特になし|とくにない")


def match_slot_text(
    text: str, slots: Sequence[CallbackSlot], weekdays: str, today: Optional[date] = None
) -> Optional[CallbackSlot]:
    """Free text like 「月曜の午前」「11/30 午後」「明日の午後」「一番早い日」 → an offered slot, else None."""
    norm = normalize(text)
    if not slots:
        return None
    if _EARLIEST.search(norm):
        return slots[0]
    period = next((k for k, p in _PERIOD_WORDS.items() if p.search(norm)), None)
    m = _DATE.search(norm)
    day_wanted = (int(m.group(1)), int(m.group(2))) if m else None
    d = None if m else _DAY_ONLY.search(norm)
    day_of_month = int(d.group(1)) if d else None
    tomorrow = today.toordinal() + 1 if today is not None and _TOMORROW.search(norm) else None
    wd = next((i for i, ch in enumerate(weekdays) if f"{ch}曜" in norm), None)
    if period is None and day_wanted is None and wd is None and day_of_month is None and tomorrow is None:
        return None
    matches = [
        s
        for s in slots
        if (period is None or s.period.key == period)
        and (day_wanted is None or (s.day.month, s.day.day) == day_wanted)
        and (day_of_month is None or s.day.day == day_of_month)
        and (tomorrow is None or s.day.toordinal() == tomorrow)
        and (wd is None or s.day.weekday() == wd)
    ]
    return matches[0] if matches else None


def wants_any_time(text: str) -> bool:
    """「いつでも」「特になし」: no preferred slot."""
    return bool(_ANY_TIME.search(normalize(text)))


def contact_method_named(text: str) -> Optional[str]:
    """ "phone" or "chat" when the answer names one (「電話で」「このチャットで」), else None."""
    norm = normalize(text)
    if _PHONE_WORDS.search(norm):
        return "phone"
    if _CHAT_WORDS.search(norm):
        return "chat"
    return None


def clean_nickname(text: str) -> str:
    """A short name without symbols that could break staff screens or CSV cells; NO_NICKNAME if empty."""
    norm = normalize(text)
    name = "".join(ch for ch in norm if unicodedata.category(ch)[0] in "LNZ" or ch in "・ー-")
    return name.strip()[:MAX_NICKNAME] or NO_NICKNAME
