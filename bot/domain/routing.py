"""Which 相談窓口 fit a person: age rows and domains from the seed's table.

Rules (tested against a table built from the seed):
  * a window is offered only when its age range overlaps the person's age band;
  * with the age unknown, only windows open to every age are offered;
  * windows for families only are not offered to the person themself;
  * windows that serve a stated need rank first; the city's anchor window is always included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from bot import clock
from bot.domain.directory import Directory, Window
from bot.domain.schedule import next_occurrences

Relation = str  # "self" | "family" | "other" | None-ish markers ("declined", "unknown")


@dataclass(frozen=True)
class Profile:
    """What is known about the person concerned. Unknown or declined fields are None/empty."""

    relation: Relation | None = None
    age_min: float | None = None
    age_max: float | None = None
    needs: tuple[str, ...] = ()

    @property
    def age_known(self) -> bool:
        return self.age_min is not None

    @property
    def age_band(self) -> tuple[float, float] | None:
        if self.age_min is None:
            return None
        return self.age_min, self.age_max if self.age_max is not None else self.age_min


@dataclass(frozen=True)
class Recommendation:
    window: Window
    reasons: tuple[str, ...]
    next_dates: tuple[date, ...] = field(default=())

    def to_payload(self, directory: Directory) -> dict[str, Any]:
        """Channel-neutral description that each connector renders (Flex bubble, Telegram message…)."""
        w = self.window
        return {
            "id": w.id,
            "name": w.name,
            "reasons": list(self.reasons),
            "what": w.what,
            "who": w.who,
            "place": w.place_name,
            "address": w.address,
            "map_url": w.map_url,
            "hours": w.hours or (w.schedule.label if w.schedule else None),
            "next_dates": [d.isoformat() for d in self.next_dates],
            "phone": w.dialable_phone,
            "url": w.url,
            "needs_callback": not w.has_contact,
        }


def eligible(window: Window, profile: Profile) -> bool:
    band = profile.age_band
    if band is None:
        if not window.age.unrestricted:
            return False
    elif not window.age.overlaps(*band):
        return False
    if window.family_only and profile.relation == "self":
        return False
    return True


def _score(window: Window, profile: Profile) -> tuple[int, int, int]:
    matches = len(set(window.needs) & set(profile.needs))
    family_fit = int(profile.relation == "family" and window.families)
    local = int(window.scope in ("city", "prefecture"))
    # Higher is better for the first three; priority ascending breaks ties.
    return (-matches, -family_fit - local, window.priority)


def _reasons(window: Window, profile: Profile, directory: Directory, dates: list[date]) -> tuple[str, ...]:
    t = directory.reasons
    out: list[str] = []
    matched = [n for n in profile.needs if n in window.needs]
    if matched:
        labels = t["list_sep"].join(directory.need_label(n) for n in matched)
        out.append(t["need"].format(needs=labels))
    if window.anchor:
        out.append(t["anchor"])
    if window.age.unrestricted:
        out.append(t["all_ages"])
    else:
        out.append(t["age"].format(ages=window.age.label(t)))
    if profile.relation == "family" and window.families:
        out.append(t["family"])
    if dates:
        out.append(t["schedule"].format(dates=t["list_sep"].join(f"{d.month}/{d.day}" for d in dates)))
    return tuple(out)


def route_windows(
    profile: Profile,
    directory: Directory,
    *,
    today: date | None = None,
    limit: int = 3,
) -> list[Recommendation]:
    """1–`limit` windows for this person, best first, each with why it fits."""
    today = today or clock.today_jst()
    candidates = [w for w in directory.windows if eligible(w, profile)]
    if profile.needs:
        matching = [w for w in candidates if set(w.needs) & set(profile.needs)]
    else:
        matching = [w for w in candidates if w.scope != "kind"]
    ranked = sorted(matching, key=lambda w: _score(w, profile))
    anchor = next((w for w in candidates if w.anchor), None)
    chosen = [w for w in ranked if not w.anchor][: limit - 1 if anchor else limit]
    if anchor:
        # The anchor leads when nothing specific was asked for, otherwise it closes the list.
        chosen = [anchor, *chosen] if not profile.needs else [*chosen, anchor]
    if not chosen:
        chosen = ranked[:limit]
    recs = []
    for w in chosen[:limit]:
        dates = next_occurrences(w.schedule, today) if w.schedule else []
        recs.append(Recommendation(w, _reasons(w, profile, directory, dates), tuple(dates)))
    return recs
