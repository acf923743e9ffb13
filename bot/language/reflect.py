"""One sentence that gives back what was understood (傾聴・復唱), before windows are offered.

Built only from understood facts — nothing is invented — with the wording in
bot/resources/reflect.yml. Returns None when too little is known to say anything back.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping, cast

import yaml

from bot.language.facts import Strength
from bot.language.kinship import kinship
from bot.paths import RESOURCES

RESOURCE = RESOURCES / "reflect.yml"


@dataclass(frozen=True)
class Understood:
    relation: str | None = None
    concerned: str | None = None
    age_min: float | None = None
    age_max: float | None = None
    duration_years: float | None = None
    status: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def wording() -> Mapping[str, Any]:
    return cast(Mapping[str, Any], yaml.safe_load(RESOURCE.read_text(encoding="utf-8")))


def _age(u: Understood, w: Mapping[str, Any]) -> str:
    if u.age_min is None:
        return ""
    lo, hi = int(u.age_min), int(u.age_max if u.age_max is not None else u.age_min)
    if lo == hi:
        exact: str = w["age_exact"]
        return exact.format(age=lo)
    band: str = w["age_band"]
    return band.format(lo=lo, hi=hi)


def _how(u: Understood, w: Mapping[str, Any]) -> str:
    parts = []
    if u.duration_years:
        if u.duration_years >= 1:
            years = int(u.duration_years) if float(u.duration_years).is_integer() else u.duration_years
            parts.append(w["duration"].format(years=years))
        else:
            parts.append(w["duration_under_year"].format(months=max(1, round(u.duration_years * 12))))
    phrases = [w["status"][s] for s in u.status if s in w["status"]]
    if phrases:
        parts.append(phrases[-1])
    return "".join(parts)


def reflect(u: Understood, need_label: Callable[[str], str] = str) -> str | None:
    """「26歳の息子さんが、4年ほど部屋にこもりがちな状況なのですね。」 or None."""
    w = wording()
    age = _age(u, w)
    how = _how(u, w)
    has_status = any(s in w["status"] for s in u.status)
    if u.relation == "self":
        sentence = (w["self_with_situation"] if has_status else w["self_only"]).format(age_part=age, how=how)
    elif u.relation in ("family", "other") or u.concerned:
        who = kinship().said_back().get(u.concerned or "", w["who"].get(u.relation or "", w["who"]["other"]))
        template = w["with_situation"] if has_status else w["about_only"]
        sentence = template.format(who_full=f"{age}{who}", how=how)
    elif has_status:
        # Who is concerned is not certain: the situation is said back without naming anyone.
        sentence = w["situation_only"].format(how=how)
    else:
        sentence = None
    if u.needs:
        needs = w["list_sep"].join(need_label(n) for n in u.needs)
        sentence = (sentence or "") + w["needs"].format(needs=needs)
    return sentence or None


def understood_from_slots(slots: Mapping[str, Any]) -> Understood:
    """What may be said back: only facts the person stated (or chose on a button). An inferred
    relation or age is used to route, never said back as fact (issue 18): a wrong guess said to a
    worried parent hurts more than a sentence that leaves it out."""
    strengths = slots.get("fact_strength") or {}
    relation = slots.get("relation")
    relation_certain = int(strengths.get("relation") or 0) >= Strength.STATED
    age_certain = int(strengths.get("age") or 0) >= Strength.STATED
    return Understood(
        relation=relation if relation in ("self", "family", "other") and relation_certain else None,
        concerned=slots.get("concerned") if relation_certain and relation == "family" else None,
        age_min=slots.get("age_min") if age_certain else None,
        age_max=slots.get("age_max") if age_certain else None,
        duration_years=slots.get("duration_years"),
        status=tuple(slots.get("status_labels") or ()),
        needs=tuple(slots.get("needs") or ()),
    )
