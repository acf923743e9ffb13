"""Ticket rows for /export.csv (phones only when explicitly asked for; a ticket's details only for
its assignee and supervisors, as on the pages: issue 21, M-8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.directory import get_directory
from bot.domain.display import need_label, slot_label, window_name
from bot.domain.labels import label, t, texts
from bot.domain.timeutil import fmt, jst_day_bounds
from bot.store.models import CallbackTicket, TicketStatus
from bot.store.tickets import view
from staff.accounts import StaffIdentity
from staff.workflow import is_responsible, without_details, without_phones

#: What anyone who may export sees of every ticket: what is needed to pick it up (M-8).
PICKUP_COLUMNS = frozenset(
    {"id", "created_at", "status", "priority", "channel", "preferred", "assigned_to", "next_attempt_at", "closed_at"}
)

COLUMNS = (
    "id",
    "created_at",
    "status",
    "priority",
    "channel",
    "relation",
    "relation_detail",
    "age_band",
    "situation",
    "needs",
    "windows",
    "contact_method",
    "preferred",
    "nickname",
    "assigned_to",
    "next_attempt_at",
    "outcome_window",
    "closed_at",
)


@dataclass(frozen=True)
class ExportRequest:
    include_phone: bool = False
    scope: str = "all"  # all | open
    created_from: date | None = None
    created_to: date | None = None


def header(include_phone: bool) -> list[str]:
    names = texts()["export_columns"]
    cols = [*COLUMNS, "phone"] if include_phone else list(COLUMNS)
    return [names[c] for c in cols]


def rows(session: Session, req: ExportRequest, user: StaffIdentity) -> Iterator[Sequence[object]]:
    """One row per ticket. Unless `user` is a supervisor or the ticket's assignee, its details are
    the hidden marker, as on the ticket page (/export.csv is for supervisors: this is the rule, in
    case another role is ever let in)."""
    d = get_directory()
    hidden = t("details_hidden")
    q = select(CallbackTicket).order_by(CallbackTicket.id)
    if req.scope == "open":
        q = q.where(CallbackTicket.status.in_(TicketStatus.OPEN))
    if req.created_from:
        q = q.where(CallbackTicket.created_at >= jst_day_bounds(req.created_from)[0])
    if req.created_to:
        q = q.where(CallbackTicket.created_at < jst_day_bounds(req.created_to)[1])
    sep = d.reasons.get("list_sep", "・")
    for ticket in session.execute(q).scalars():
        tv = view(ticket)
        details = is_responsible(ticket, user)
        if not req.include_phone or not details:
            tv = without_phones(tv)  # a number typed into the situation stays out of the file too
        if not details:
            tv = without_details(tv)
        row: list[object] = [
            tv.id,
            fmt(ticket.created_at),
            label("status", tv.status),
            label("priority", tv.priority),
            label("channel", tv.channel),
            label("relation", tv.relation),
            tv.relation_detail or "",
            tv.age_band or "",
            tv.situation or "",
            sep.join(need_label(n, d) for n in tv.needs),
            sep.join(window_name(w, d) for w in tv.windows),
            label("contact_method", tv.contact_method),
            slot_label(tv.preferred_slot, tv.preferred_at, d) or "",
            tv.nickname or "",
            tv.assigned_to or "",
            fmt(tv.next_attempt_at),
            window_name(tv.outcome_window, d) if tv.outcome_window else "",
            fmt(ticket.closed_at),
        ]
        if req.include_phone:
            row.append(tv.phone or "")
        if not details:
            columns = [*COLUMNS, "phone"] if req.include_phone else COLUMNS
            row = [v if c in PICKUP_COLUMNS else hidden for c, v in zip(columns, row)]
        yield row
