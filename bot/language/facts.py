"""Facts about the person concerned, each with its strength, and the one rule that merges them.

A fact learned from a button outranks one stated in words, which outranks one inferred; a
later, weaker (or equally strong but different) mention never overwrites, and an explicit
correction (「いえ、娘です」, 「45じゃなくて54です」) always does. Facts about the writer
(「私も70を過ぎて」) are never facts about the person concerned. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Mapping

from bot.language.normaliser import normalize


class Strength(IntEnum):
    INFERRED = 1  # a pronoun, a classifier's guess, a bare number
    STATED = 2  # said in words: 「母です」「27歳の息子」「自分のことです」
    BUTTON = 3  # chosen from the options offered


@dataclass(frozen=True)
class Fact:
    """One piece of what was understood. `value` is a relation name or an (min, max) age band."""

    kind: str  # "relation" | "age"
    value: Any
    strength: Strength
    correction: bool = False


def _band(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    lo, hi = value
    return float(lo), float(hi if hi is not None else lo)


def _narrower(new: Any, current: Any) -> bool:
    """`new` lies inside `current` and says more (40代 → 45歳)."""
    n, c = _band(new), _band(current)
    if n is None or c is None:
        return False
    return c[0] <= n[0] and n[1] <= c[1] and (n[1] - n[0]) < (c[1] - c[0])


def merge_fact(current: Fact | None, new: Fact | None) -> Fact | None:
    """The fact to keep when `new` is heard after `current` (see the module docstring)."""
    if new is None:
        return current
    if current is None or new.correction:
        return new
    if new.value == current.value:
        return current if current.strength >= new.strength else new
    if new.strength > current.strength:
        return new
    if new.kind == "age" and new.strength == current.strength and _narrower(new.value, current.value):
        return new
    return current


# 「Xじゃなくて Y」「いえ、Y」「間違えました、Y」: the message corrects what was said before.
_CORRECTION = re.compile(
    r"(じゃなくて|じゃなく|ではなくて|ではなく|でなくて|でなく|やなくて|じゃのうて|じゃあなくて)"
    r"|^(いえ|いいえ|いや|ちがいます|違います|ちがう|違う)[、,\s]"
    r"|(間違え|まちがえ|間違い|まちがい|訂正|打ち間違|書き間違|言い間違)"
    r"|^正しくは|^本当は|^ほんとは|よく考えたら"
    # An apology that opens a short message (すみません、45です); never the opening courtesy of a
    # story (夜分にすみません 78歳の母です…).
    r"|^[\s…‥.・、,]*(ごめんなさい|すみません|すいません|失礼しました)[、,\s](?=.{0,40}$)"
    r"|\d+\s?(歳|才)?でした"
)
_CORRECTION_SPLIT = re.compile(
    r"(じゃなくて|じゃなく|ではなくて|ではなく|でなくて|でなく|やなくて|じゃのうて|じゃあなくて)"
)


def is_correction(text: str) -> bool:
    return bool(_CORRECTION.search(normalize(text or "")))


def corrected_part(text: str) -> str:
    """What a correction says is right: the part after 「…じゃなくて」, else the whole text."""
    norm = normalize(text or "")
    parts = _CORRECTION_SPLIT.split(norm, maxsplit=1)
    return parts[-1] if len(parts) == 3 and parts[-1].strip() else norm


def fact_from_slots(kind: str, slots: Mapping[str, Any], strengths: Mapping[str, Any]) -> Fact | None:
    """The current fact as the tracker keeps it (slots + the `fact_strength` slot)."""
    strength = Strength(int(strengths.get(kind) or Strength.INFERRED))
    if kind == "relation":
        value = slots.get("relation")
        return Fact("relation", value, strength) if value in ("self", "family", "other") else None
    if slots.get("age_min") is None:
        return None
    return Fact("age", (slots["age_min"], slots.get("age_max")), strength)
