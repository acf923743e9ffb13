"""Anonymous statistics for ②実態把握: recording (action server) and monthly figures (staff app).

Recording: `record_stat(kind, sender_id, conversation, ...)` stores one StatEvent per
(person, kind, conversation). `person` is an HMAC of the sender id with its own key
(MADOGUCHI_STATS_KEY or var/stats.key), and `conversation` is an HMAC of sender + session key,
so the table holds no id that leads back to a tracker or a ticket. It never raises.

Figures (per Japanese fiscal year, April–March, in Japan time):
  実人数      distinct persons with a conversation in the period
  延べ件数    conversations in the period (one person can have many)
  新規 / 再来 persons whose first conversation ever falls in the period / who had one before
  窓口案内     conversations that reached a recommendation
  折り返し     tickets booked in the period; of those ever contacted (audit log); closed
Every count below THRESHOLD is replaced by SUPPRESSED here, in the query layer; where a
suppressed cell could be recovered from a published total (a partition: months of a year,
new + repeat, relation, age band, hour), the next smallest cell is suppressed as well.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Iterable, Mapping, Sequence, Union

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot import clock
from bot.clock import JST
from bot.domain.directory import Directory, get_directory
from bot.domain.labels import t
from bot.security.keys import load_or_create_secret
from bot.store.db import session_scope
from bot.store.models import AuditEntry, CallbackTicket, StatEvent, TicketStatus

log = logging.getLogger(__name__)

KINDS = ("consultation", "recommendation", "callback")
RELATIONS = ("self", "family", "other")
UNKNOWN = "unknown"
THRESHOLD = 3
SUPPRESSED = t("stats_labels.suppressed")  # 3未満, in bot/resources/staff_texts.yml
NOT_YET = "—"  # a month that has not started: no figure, and not part of any partition
NIGHT_HOURS = (22, 23, 0, 1, 2, 3, 4, 5)  # 22:00–6:00
ENV_KEY = "MADOGUCHI_STATS_KEY"

Cell = Union[int, str]


# --- recording ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _key() -> bytes:
    return load_or_create_secret(ENV_KEY, "stats.key")


def reset_key() -> None:
    _key.cache_clear()


def person_key(sender_id: str) -> str:
    return hmac.new(_key(), f"person:{sender_id}".encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def conversation_key(sender_id: str, conversation: str) -> str:
    raw = f"conversation:{sender_id}|{conversation}".encode("utf-8")
    return hmac.new(_key(), raw, hashlib.sha256).hexdigest()[:32]


def session_key(events: Iterable[Mapping[str, object]]) -> str:
    """The conversation a tracker is in: the timestamp of its latest `session_started` event
    ("0" before the first one). Pass `tracker.events` from an action."""
    stamp: object = 0
    for event in events:
        if event.get("event") == "session_started":
            stamp = event.get("timestamp") or stamp
    return str(stamp)


def _utc(moment: datetime | None) -> datetime:
    return clock.now() if moment is None else clock.as_utc(moment)


def _clean(
    directory: Directory | None,
    relation: str | None,
    age_band: str | None,
    needs: Iterable[str],
    windows: Iterable[str],
) -> tuple[str | None, str | None, list[str], list[str]]:
    """Only known codes reach the table: free text can never leak into the statistics."""
    bands = {b.label for b in directory.age_bands} if directory else set()
    need_keys = set(directory.needs) if directory else set()
    window_ids = {w.id for w in directory.windows} if directory else set()
    rel = relation if relation in RELATIONS else None
    band = age_band if age_band in bands else None
    need_list = sorted({n for n in needs or () if n in need_keys})
    window_list = [w for w in dict.fromkeys(windows or ()) if w in window_ids]
    return rel, band, need_list, window_list


def record_stat(
    kind: str,
    sender_id: str,
    conversation: str,
    *,
    relation: str | None = None,
    age_band: str | None = None,
    needs: Sequence[str] = (),
    windows: Sequence[str] = (),
    at: datetime | None = None,
) -> None:
    """Store one anonymous event; a repeat for the same (person, kind, conversation) only fills in
    attributes that were still unknown. Never raises (logs a WARNING without ids)."""
    try:
        if kind not in KINDS:
            raise ValueError("unknown kind")
        try:
            directory: Directory | None = get_directory()
        except Exception:  # a broken directory must not lose the count
            directory = None
        rel, band, need_list, window_list = _clean(directory, relation, age_band, needs, windows)
        moment = _utc(at)
        person, conv = person_key(sender_id), conversation_key(sender_id, conversation)
        try:
            with session_scope() as s:
                s.add(
                    StatEvent(
                        at=moment,
                        kind=kind,
                        person=person,
                        conversation=conv,
                        relation=rel,
                        age_band=band,
                        needs=need_list,
                        windows=window_list,
                        hour=moment.astimezone(JST).hour,
                    )
                )
        except IntegrityError:
            with session_scope() as s:
                row = s.execute(
                    select(StatEvent).where(
                        StatEvent.person == person,
                        StatEvent.kind == kind,
                        StatEvent.conversation == conv,
                    )
                ).scalar_one()
                row.relation = row.relation or rel
                row.age_band = row.age_band or band
                if need_list and not row.needs:
                    row.needs = need_list
                if window_list and not row.windows:
                    row.windows = window_list
    except Exception as exc:  # statistics must never break a conversation
        log.warning("statistics event not recorded (kind=%s): %s", kind, type(exc).__name__)


# --- suppression --------------------------------------------------------------------------------
def suppress(n: int) -> Cell:
    return n if n >= THRESHOLD else SUPPRESSED


def suppress_partition(counts: Mapping[str, int], total: int | None = None) -> dict[str, Cell]:
    """Primary suppression of each cell, plus one secondary cell when exactly one is hidden and the
    total is published (otherwise the hidden one is total minus the others)."""
    out: dict[str, Cell] = {k: suppress(v) for k, v in counts.items()}
    hidden = [k for k, v in out.items() if v == SUPPRESSED]
    total_published = total is None or total >= THRESHOLD
    if len(hidden) == 1 and total_published and len(out) > 1:
        shown = sorted((v, k) for k, v in counts.items() if k not in hidden)
        if shown:
            out[shown[0][1]] = SUPPRESSED
    return out


def is_suppressed(cell: Cell) -> bool:
    return cell == SUPPRESSED


# --- figures ------------------------------------------------------------------------------------
def fiscal_year_of(day: date) -> int:
    return day.year if day.month >= 4 else day.year - 1


def fiscal_months(fy: int) -> list[tuple[int, int]]:
    return [(fy, m) for m in range(4, 13)] + [(fy + 1, m) for m in range(1, 4)]


def _month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=JST)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


_as_utc = clock.as_utc


@dataclass
class Conversation:
    person: str
    started: datetime  # JST
    hour: int | None
    relation: str | None = None
    age_band: str | None = None
    needs: set[str] = field(default_factory=set)
    windows: set[str] = field(default_factory=set)
    recommended: bool = False

    @property
    def month(self) -> tuple[int, int]:
        return self.started.year, self.started.month


@dataclass(frozen=True)
class MonthRow:
    key: str  # 2026-04, or "total"
    consult_persons: Cell
    consult_count: Cell
    new_persons: Cell
    repeat_persons: Cell
    recommended: Cell
    callbacks_booked: Cell
    callbacks_contacted: Cell
    callbacks_closed: Cell


MONTH_FIELDS = (
    "consult_persons",
    "consult_count",
    "new_persons",
    "repeat_persons",
    "recommended",
    "callbacks_booked",
    "callbacks_contacted",
    "callbacks_closed",
)
# Fields whose months add up to the year total (so they need secondary suppression across months).
ADDITIVE = (
    "consult_count",
    "new_persons",
    "recommended",
    "callbacks_booked",
    "callbacks_contacted",
    "callbacks_closed",
)


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    value: Cell


@dataclass(frozen=True)
class Breakdown:
    period: str  # "2026" (fiscal year) or "2026-11"
    total: Cell
    relation: list[Item]
    age_band: list[Item]
    needs: list[Item]
    windows: list[Item]
    hours: list[Item]  # 0..23 then unknown
    night: Cell
    night_share: float | None  # percent, only when night and day counts are both published


@dataclass(frozen=True)
class StatsReport:
    fiscal_year: int
    months: list[MonthRow]
    total: MonthRow
    breakdown: Breakdown


def _conversations(start: datetime, end: datetime) -> dict[tuple[str, str], Conversation]:
    """Conversations whose first event lies in [start, end), attributes merged over their events."""
    with session_scope() as s:
        rows = (
            s.execute(
                select(StatEvent)
                .where(StatEvent.at >= start.astimezone(timezone.utc), StatEvent.at < end.astimezone(timezone.utc))
                .order_by(StatEvent.at, StatEvent.id)
            )
            .scalars()
            .all()
        )
        convs: dict[tuple[str, str], Conversation] = {}
        for e in rows:
            key = (e.person, e.conversation)
            c = convs.get(key)
            if c is None:
                c = convs[key] = Conversation(e.person, _as_utc(e.at).astimezone(JST), e.hour)
            c.relation = c.relation or e.relation
            c.age_band = c.age_band or e.age_band
            c.needs.update(e.needs or ())
            c.windows.update(e.windows or ())
            c.recommended = c.recommended or e.kind == "recommendation"
        return convs


def _first_seen(before: datetime) -> dict[str, datetime]:
    """Each person's first event ever (persons seen before `before`)."""
    with session_scope() as s:
        rows = s.execute(
            select(StatEvent.person, func.min(StatEvent.at))
            .where(StatEvent.at < before.astimezone(timezone.utc))
            .group_by(StatEvent.person)
        ).all()
    return {p: _as_utc(at).astimezone(JST) for p, at in rows}


def _tickets(start: datetime, end: datetime) -> list[tuple[datetime, str, bool]]:
    """(created JST, status, ever contacted) for tickets booked in [start, end)."""
    with session_scope() as s:
        rows = s.execute(
            select(CallbackTicket.id, CallbackTicket.created_at, CallbackTicket.status).where(
                CallbackTicket.created_at >= start.astimezone(timezone.utc),
                CallbackTicket.created_at < end.astimezone(timezone.utc),
            )
        ).all()
        contacted = set(
            s.execute(
                select(AuditEntry.ticket_id).where(
                    AuditEntry.action == "status", AuditEntry.detail.like("%to=contacted%")
                )
            ).scalars()
        )
    return [(_as_utc(c).astimezone(JST), st, tid in contacted or st == TicketStatus.CONTACTED) for tid, c, st in rows]


def _raw_month(
    convs: Iterable[Conversation],
    first: Mapping[str, datetime],
    start: datetime,
    tickets: Iterable[tuple[datetime, str, bool]],
) -> dict[str, int]:
    convs = list(convs)
    tickets = list(tickets)
    persons = {c.person for c in convs}
    new = {p for p in persons if first.get(p, start) >= start}
    return {
        "consult_persons": len(persons),
        "consult_count": len(convs),
        "new_persons": len(new),
        "repeat_persons": len(persons) - len(new),
        "recommended": sum(1 for c in convs if c.recommended),
        "callbacks_booked": len(tickets),
        "callbacks_contacted": sum(1 for _, _, contacted in tickets if contacted),
        "callbacks_closed": sum(1 for _, st, _ in tickets if st == TicketStatus.CLOSED),
    }


def _protect_row(raw: Mapping[str, int]) -> dict[str, Cell]:
    cells: dict[str, Cell] = {f: suppress(raw[f]) for f in MONTH_FIELDS}
    pair = suppress_partition(
        {"new_persons": raw["new_persons"], "repeat_persons": raw["repeat_persons"]}, raw["consult_persons"]
    )
    cells.update(pair)
    return cells


def _items(counts: Counter[str], order: Sequence[tuple[str, str]], partition: bool, total: int) -> list[Item]:
    raw = {k: counts.get(k, 0) for k, _ in order}
    cells = suppress_partition(raw, total) if partition else {k: suppress(v) for k, v in raw.items()}
    return [Item(k, lbl, cells[k]) for k, lbl in order]


def breakdown(convs: Sequence[Conversation], period: str, directory: Directory) -> Breakdown:
    total = len(convs)
    rel = Counter(c.relation or UNKNOWN for c in convs)
    band = Counter(c.age_band or UNKNOWN for c in convs)
    needs = Counter(n for c in convs for n in c.needs)
    windows = Counter(w for c in convs for w in c.windows)
    hours = Counter(str(c.hour) if c.hour is not None else UNKNOWN for c in convs)
    night = sum(1 for c in convs if c.hour in NIGHT_HOURS)
    night_cell, day_cell = suppress(night), suppress(total - night)
    share = (
        round(100.0 * night / total, 1)
        if total and not is_suppressed(night_cell) and not is_suppressed(day_cell)
        else None
    )
    return Breakdown(
        period=period,
        total=suppress(total),
        relation=_items(rel, [(r, r) for r in (*RELATIONS, UNKNOWN)], True, total),
        age_band=_items(band, [(b.label, b.label) for b in directory.age_bands] + [(UNKNOWN, UNKNOWN)], True, total),
        needs=_items(needs, list(directory.needs.items()), False, total),
        windows=_items(windows, [(w.id, w.name) for w in directory.windows], False, total),
        hours=_items(hours, [(str(h), str(h)) for h in range(24)] + [(UNKNOWN, UNKNOWN)], True, total),
        night=night_cell,
        night_share=share,
    )


def report(
    fiscal_year: int, month: int | None = None, directory: Directory | None = None, today: date | None = None
) -> StatsReport:
    """Monthly figures for a fiscal year (April–March) and the breakdown for the year or one month.

    Months after `today` (Japan time; default: now) show NOT_YET instead of a count."""
    d = directory or get_directory()
    today = today or clock.today_jst()
    months = fiscal_months(fiscal_year)
    started = [(y, m) for y, m in months if (y, m) <= (today.year, today.month)]
    fy_start = _month_start(*months[0])
    fy_end = _month_start(*_next_month(*months[-1]))
    convs = _conversations(fy_start, fy_end)
    first = _first_seen(fy_end)
    tickets = _tickets(fy_start, fy_end)
    by_month: dict[tuple[int, int], list[Conversation]] = defaultdict(list)
    for c in convs.values():
        by_month[c.month].append(c)
    raw_rows: dict[str, dict[str, int]] = {}
    for y, m in months:
        start = _month_start(y, m)
        raw_rows[f"{y:04d}-{m:02d}"] = _raw_month(
            by_month.get((y, m), []), first, start, [tk for tk in tickets if (tk[0].year, tk[0].month) == (y, m)]
        )
    raw_total = _raw_month(convs.values(), first, fy_start, tickets)
    started_keys = {f"{y:04d}-{m:02d}" for y, m in started}
    cells = {k: _protect_row(v) for k, v in raw_rows.items()}
    for f in ADDITIVE:  # months add up to the year: protect the column as a partition
        column = suppress_partition({k: v[f] for k, v in raw_rows.items() if k in started_keys}, raw_total[f])
        for k, cell in column.items():
            if is_suppressed(cell):
                cells[k][f] = cell
    for k in raw_rows:
        if k not in started_keys:
            cells[k] = {f: NOT_YET for f in MONTH_FIELDS}
    rows = [MonthRow(k, **cells[k]) for k in raw_rows]
    total_row = MonthRow("total", **_protect_row(raw_total))
    if month is not None:
        year = fiscal_year if month >= 4 else fiscal_year + 1
        selected = by_month.get((year, month), [])
        bd = breakdown(selected, f"{year:04d}-{month:02d}", d)
    else:
        bd = breakdown(list(convs.values()), f"{fiscal_year:04d}", d)
    return StatsReport(fiscal_year, rows, total_row, bd)


def chart_value(cell: Cell) -> int | None:
    """For charts: a suppressed (or not yet started) cell is a gap, never a number."""
    return cell if isinstance(cell, int) else None
