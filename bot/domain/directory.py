"""The directory of 相談窓口: one YAML file read by the bot, the validator and the staff app.

The file lives at `directory/windows.yml` (override with MADOGUCHI_DIRECTORY). Missing
contact data stays `None`; `missing_fields()` reports it as 要設定 so nobody invents it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from bot import config, paths

ROOT = paths.ROOT
#: directory/windows.yml: MADOGUCHI_DIRECTORY's default (bot.config).
DEFAULT_PATH = config.settings({}).path("MADOGUCHI_DIRECTORY")
UNSET = "要設定"

FORMAT_KEYS = frozenset(
    {
        "reason",
        "hotline",
        "hotline_hours",
        "emergency",
        "place",
        "when",
        "phone",
        "moment",
        "slot",
        "date",
        "weekdays",
        "summary_line",
    }
)
REASON_KEYS = frozenset(
    {
        "need",
        "age",
        "all_ages",
        "family",
        "anchor",
        "schedule",
        "age_unit_open",
        "age_unit_closed",
        "age_unit_upto",
        "list_sep",
    }
)


class DirectoryError(ValueError):
    """The directory file is malformed; the message names the entry and field."""


@dataclass(frozen=True)
class AgeRange:
    min: int | None
    max: int | None

    def overlaps(self, lo: float, hi: float) -> bool:
        return (self.min is None or hi >= self.min) and (self.max is None or lo <= self.max)

    @property
    def unrestricted(self) -> bool:
        return (self.min in (None, 0)) and self.max is None

    def label(self, texts: Mapping[str, str]) -> str:
        """Rendered with the directory's own wording (`reasons.age_unit_*`)."""
        if self.max is None:
            return texts["age_unit_open"].format(min=self.min or 0)
        if self.min in (None, 0):
            return texts["age_unit_upto"].format(max=self.max)
        return texts["age_unit_closed"].format(min=self.min, max=self.max)


@dataclass(frozen=True)
class RecurringSchedule:
    """`monthly_nth_weekday`: e.g. 第2・4金曜 午後 → weeks (2, 4), weekday 4, period pm."""

    kind: str
    weeks: tuple[int, ...]
    weekday: int
    period: str
    label: str


@dataclass(frozen=True)
class Window:
    id: str
    name: str
    operator: str
    scope: str
    age: AgeRange
    families: bool
    family_only: bool
    domains: tuple[str, ...]
    needs: tuple[str, ...]
    what: str
    who: str
    place_name: str | None
    address: str | None
    map_url: str | None
    hours: str | None
    phone: str | None
    phone_verified: bool
    url: str | None
    priority: int
    schedule: RecurringSchedule | None = None
    seed: str = ""
    anchor: bool = False

    @property
    def dialable_phone(self) -> str | None:
        """A phone is shown as a tel: button only when it is verified."""
        if self.phone and self.phone_verified:
            return self.phone
        return None

    @property
    def has_contact(self) -> bool:
        return bool(self.dialable_phone or self.url)


@dataclass(frozen=True)
class Hotline:
    id: str
    name: str
    phone: str
    hours: str | None
    fee: str | None
    audience: str | None


@dataclass(frozen=True)
class EmergencyLine:
    id: str
    name: str
    phone: str
    when: str


@dataclass(frozen=True)
class Period:
    key: str
    label: str
    start: str
    end: str


@dataclass(frozen=True)
class ServiceConfig:
    configured: bool
    business_start: str
    business_end: str
    periods: tuple[Period, ...]
    closed_from: tuple[int, int]
    closed_to: tuple[int, int]
    callback_days_ahead: int
    on_call_contact: str | None


@dataclass(frozen=True)
class AgeBand:
    label: str
    min: int
    max: int | None

    def contains(self, age: float) -> bool:
        return age >= self.min and (self.max is None or age <= self.max)


@dataclass(frozen=True)
class Directory:
    municipality: str
    needs: Mapping[str, str]
    windows: tuple[Window, ...]
    hotlines: tuple[Hotline, ...]
    emergency: tuple[EmergencyLine, ...]
    service: ServiceConfig
    age_bands: tuple[AgeBand, ...]
    reasons: Mapping[str, str]
    formats: Mapping[str, str]
    verified_numbers: frozenset[str] = frozenset()
    _by_id: Mapping[str, Window] = field(default_factory=dict, repr=False, compare=False)

    def window(self, window_id: str) -> Window:
        return self._by_id[window_id]

    def get(self, window_id: str) -> Window | None:
        return self._by_id.get(window_id)

    def need_label(self, key: str) -> str:
        return self.needs.get(key, key)

    def fmt(self, key: str, **values: object) -> str:
        return self.formats[key].format(**values)

    def weekday(self, day: date) -> str:
        return self.formats["weekdays"][day.weekday()]

    def emergency_line(self, line_id: str) -> EmergencyLine:
        return next(line for line in self.emergency if line.id == line_id)

    def age_band(self, age_min: float | None, age_max: float | None) -> str | None:
        """The seed's row label for an age (midpoint of a band); None when unknown."""
        if age_min is None:
            return None
        mid = (age_min + (age_max if age_max is not None else age_min)) / 2
        return next((b.label for b in self.age_bands if b.contains(mid)), None)

    def missing_fields(self) -> list[tuple[str, str]]:
        """(entry, field) pairs that are 要設定: the municipality must fill or confirm them."""
        missing: list[tuple[str, str]] = []
        for w in self.windows:
            if w.scope == "kind":
                # A general kind has no single address; a local contact is still worth adding.
                if not w.has_contact:
                    missing.append((w.id, "contact (phone/url)"))
                continue
            if not w.address:
                missing.append((w.id, "place.address"))
            if not w.hours and not w.schedule:
                missing.append((w.id, "hours"))
            if not w.phone:
                missing.append((w.id, "contact.phone"))
            elif not w.phone_verified:
                missing.append((w.id, "contact.phone_verified"))
            if not w.url:
                missing.append((w.id, "contact.url"))
        for h in self.hotlines:
            if not h.hours:
                missing.append((h.id, "hours"))
        if not self.service.configured:
            missing.append(("service", "business_hours (placeholder values in use)"))
        if not self.service.on_call_contact:
            missing.append(("service", "on_call_contact"))
        return missing


def _require(entry: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in entry or entry[key] in (None, ""):
        raise DirectoryError(f"{where}: '{key}' is required")
    return entry[key]


def _hhmm(value: str, where: str) -> str:
    if not re.fullmatch(r"\d{2}:\d{2}", str(value)):
        raise DirectoryError(f"{where}: time must be HH:MM, got {value!r}")
    return str(value)


def _month_day(value: str, where: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{2})-(\d{2})", str(value))
    if not m:
        raise DirectoryError(f"{where}: expected MM-DD, got {value!r}")
    return int(m.group(1)), int(m.group(2))


def _check_phone(phone: str | None, verified: bool, where: str, allowed: frozenset[str]) -> None:
    if phone and verified and phone not in allowed:
        raise DirectoryError(
            f"{where}: phone {phone} is marked verified but is not on the verified list; "
            "leave phone_verified false until the municipality confirms it"
        )


def _parse_window(raw: Mapping[str, Any], need_keys: Iterable[str], allowed: frozenset[str]) -> Window:
    wid = _require(raw, "id", "window")
    where = f"window {wid}"
    age = raw.get("age") or {}
    age_range = AgeRange(age.get("min"), age.get("max"))
    if age_range.min is not None and age_range.max is not None and age_range.min > age_range.max:
        raise DirectoryError(f"{where}: age.min > age.max")
    needs = tuple(raw.get("needs") or ())
    unknown = [n for n in needs if n not in set(need_keys)]
    if unknown:
        raise DirectoryError(f"{where}: unknown needs {unknown}")
    place = raw.get("place") or {}
    contact = raw.get("contact") or {}
    phone = contact.get("phone")
    verified = bool(contact.get("phone_verified"))
    _check_phone(phone, verified, where, allowed)
    schedule = None
    if raw.get("schedule"):
        s = raw["schedule"]
        if s.get("kind") != "monthly_nth_weekday":
            raise DirectoryError(f"{where}: unsupported schedule kind {s.get('kind')!r}")
        weeks = tuple(int(w) for w in s.get("weeks") or ())
        if not weeks or any(not 1 <= w <= 5 for w in weeks):
            raise DirectoryError(f"{where}: schedule.weeks must be 1..5")
        weekday = int(s["weekday"])
        if not 0 <= weekday <= 6:
            raise DirectoryError(f"{where}: schedule.weekday must be 0..6")
        schedule = RecurringSchedule(
            kind=s["kind"],
            weeks=weeks,
            weekday=weekday,
            period=str(s.get("period", "pm")),
            label=str(s.get("label") or ""),
        )
    return Window(
        id=wid,
        name=_require(raw, "name", where),
        operator=str(raw.get("operator") or ""),
        scope=str(raw.get("scope") or "city"),
        age=age_range,
        families=bool(raw.get("families", True)),
        family_only=bool(raw.get("family_only", False)),
        domains=tuple(raw.get("domains") or ()),
        needs=needs,
        what=str(raw.get("what") or ""),
        who=str(raw.get("who") or ""),
        place_name=place.get("name"),
        address=place.get("address"),
        map_url=place.get("map_url"),
        hours=raw.get("hours"),
        phone=phone,
        phone_verified=verified,
        url=contact.get("url"),
        priority=int(raw.get("priority", 50)),
        schedule=schedule,
        seed=str(raw.get("seed") or ""),
        anchor=bool(raw.get("anchor", False)),
    )


def parse_directory(data: Mapping[str, Any]) -> Directory:
    needs = dict(data.get("needs") or {})
    if not needs:
        raise DirectoryError("'needs' must list the need keys")
    allowed = frozenset(str(n) for n in data.get("verified_numbers") or ())
    windows = tuple(_parse_window(w, needs, allowed) for w in data.get("windows") or ())
    ids = [w.id for w in windows]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise DirectoryError(f"duplicate window ids: {sorted(dupes)}")
    hotlines = tuple(
        Hotline(
            id=h["id"],
            name=h["name"],
            phone=str(h["phone"]),
            hours=h.get("hours"),
            fee=h.get("fee"),
            audience=h.get("audience"),
        )
        for h in data.get("hotlines") or ()
    )
    for h in hotlines:
        _check_phone(h.phone, True, f"hotline {h.id}", allowed)
    emergency = tuple(
        EmergencyLine(id=e["id"], name=e["name"], phone=str(e["phone"]), when=e.get("when", ""))
        for e in data.get("emergency") or ()
    )
    for e in emergency:
        _check_phone(e.phone, True, f"emergency {e.id}", allowed)
    svc = data.get("service") or {}
    hours = svc.get("business_hours") or {}
    periods = tuple(
        Period(
            key=p["key"],
            label=p["label"],
            start=_hhmm(p["start"], "service.callback_periods"),
            end=_hhmm(p["end"], "service.callback_periods"),
        )
        for p in svc.get("callback_periods") or ()
    )
    if not periods:
        raise DirectoryError("service.callback_periods must not be empty")
    service = ServiceConfig(
        configured=bool(svc.get("configured", False)),
        business_start=_hhmm(hours.get("start", "09:00"), "service.business_hours"),
        business_end=_hhmm(hours.get("end", "17:00"), "service.business_hours"),
        periods=periods,
        closed_from=_month_day(svc.get("closed_from", "12-29"), "service.closed_from"),
        closed_to=_month_day(svc.get("closed_to", "01-03"), "service.closed_to"),
        callback_days_ahead=int(svc.get("callback_days_ahead", 3)),
        on_call_contact=svc.get("on_call_contact"),
    )
    bands = tuple(AgeBand(label=b["label"], min=int(b["min"]), max=b.get("max")) for b in data.get("age_bands") or ())
    reasons = dict(data.get("reasons") or {})
    missing_texts = sorted(REASON_KEYS - set(reasons))
    if missing_texts:
        raise DirectoryError(f"reasons: missing {missing_texts}")
    formats = dict(data.get("formats") or {})
    missing_formats = sorted(FORMAT_KEYS - set(formats))
    if missing_formats:
        raise DirectoryError(f"formats: missing {missing_formats}")
    return Directory(
        municipality=str(data.get("municipality") or ""),
        needs=needs,
        windows=windows,
        hotlines=hotlines,
        emergency=emergency,
        service=service,
        age_bands=bands,
        reasons=reasons,
        formats=formats,
        verified_numbers=allowed,
        _by_id={w.id: w for w in windows},
    )


def directory_path() -> Path:
    return config.settings().path("MADOGUCHI_DIRECTORY")


def load_directory(path: str | Path | None = None) -> Directory:
    p = Path(path) if path else directory_path()
    with open(p, encoding="utf-8") as fh:
        return parse_directory(yaml.safe_load(fh) or {})


@lru_cache(maxsize=4)
def _cached(path: str, mtime_ns: int) -> Directory:
    return load_directory(path)


def get_directory() -> Directory:
    """Cached per file version: edits to the YAML are picked up without a restart."""
    p = directory_path()
    return _cached(str(p), p.stat().st_mtime_ns)


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.domain.directory`: validate the file and list what is 要設定."""
    import sys

    from bot.domain.labels import t

    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else None
    try:
        d = load_directory(path)
    except (DirectoryError, KeyError, yaml.YAMLError) as exc:
        print(t("directory_check.invalid", error=exc), file=sys.stderr)
        return 2
    missing = d.missing_fields()
    print(
        t(
            "directory_check.summary",
            municipality=d.municipality,
            windows=len(d.windows),
            lines=len(d.hotlines) + len(d.emergency),
        )
    )
    if not missing:
        print(t("directory_check.nothing_unset"))
        return 0
    print(t("directory_check.unset_header", unset=UNSET, count=len(missing)))
    for entry, fld in missing:
        window = d.get(entry)
        name = window.name if window else entry
        print(t("directory_check.unset_item", name=name, entry=entry, field=fld))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
