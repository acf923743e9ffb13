"""What staff do to a ticket, validated here (server side) and audited.

Status flow:  new → assigned → contacted → closed
              assigned → unreachable (with a time for the next attempt)
              unreachable → assigned (retry) | contacted | closed
Only the assignee or a supervisor changes an assigned ticket; anyone may claim a new one.
Only they see the ticket's details (the summary, the free text, the nickname, the contact and the
notes; issue 21, M-8) and the phone number, and reply to the person; nobody replies on a closed
ticket. Other staff see that a ticket is there and what they need to pick it up (number, times,
priority, status, wished slot, channel, assignee).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Sequence

from sqlalchemy import String, and_, cast, select
from sqlalchemy.orm import Session

from bot.domain.labels import t
from bot.domain.phone import redact_phones
from bot.domain.timeutil import jst_day_bounds, now_utc, to_utc
from bot.security import crypto
from bot.store.audit import record
from bot.store.models import CallbackTicket, TicketNote, TicketStatus
from bot.store.tickets import TicketView
from staff.accounts import StaffIdentity

S = TicketStatus
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.NEW: (S.ASSIGNED,),
    S.ASSIGNED: (S.CONTACTED, S.UNREACHABLE),
    S.CONTACTED: (S.CLOSED,),
    S.UNREACHABLE: (S.ASSIGNED, S.CONTACTED, S.CLOSED),
    S.CLOSED: (),
}
MAX_NOTE = 2000
MAX_REPLY = 500


class WorkflowError(Exception):
    """Refused change; `key` names the flash message in texts.yml, `values` fill it."""

    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def audit(
    session: Session, actor: StaffIdentity | str, action: str, ticket_id: int | None = None, detail: str | None = None
) -> None:
    """One row of the audit log (bot.store.audit: hash-chained, with the request's address and session)."""
    record(session, actor if isinstance(actor, str) else actor.username, action, ticket_id, detail)


def allowed_next(ticket: CallbackTicket, user: StaffIdentity) -> tuple[str, ...]:
    if ticket.erased_at is not None:
        return ()
    if ticket.status != S.NEW and not _may_change(ticket, user):
        return ()
    return TRANSITIONS.get(ticket.status, ())


def is_responsible(ticket: CallbackTicket, user: StaffIdentity) -> bool:
    """The assignee or a supervisor: who sees the ticket's details and phone number, and may reply."""
    return user.is_supervisor or (ticket.assigned_to is not None and ticket.assigned_to == user.username)


def without_details(tv: TicketView) -> TicketView:
    """The ticket as staff who are neither its assignee nor a supervisor see it (need-to-know,
    issue 21 M-8): what they need to pick it up, nothing about the person or their situation."""
    return replace(
        tv,
        sender_id=None,
        relation=None,
        relation_detail=None,
        age_min=None,
        age_max=None,
        age_band=None,
        situation=None,
        needs=[],
        windows=[],
        contact_method="",
        phone=None,
        nickname=None,
        share_conversation=False,
        outcome_window=None,
        session_start=None,
    )


def without_phones(tv: TicketView) -> TicketView:
    """The ticket as staff who may not see the number see it: no phone, and none typed into the
    situation or the nickname (「夜は090-…にかけて」) either."""
    hidden = t("phone_redacted")
    return replace(
        tv,
        phone=None,
        situation=redact_phones(tv.situation or "", hidden) or tv.situation,
        nickname=redact_phones(tv.nickname or "", hidden) or tv.nickname,
    )


def may_reply(ticket: CallbackTicket, user: StaffIdentity) -> bool:
    return is_responsible(ticket, user) and ticket.status != S.CLOSED and ticket.erased_at is None


def _may_change(ticket: CallbackTicket, user: StaffIdentity) -> bool:
    return user.is_supervisor or ticket.assigned_to in (None, user.username)


def _note(session: Session, ticket: CallbackTicket, user: StaffIdentity, kind: str, body: str) -> None:
    session.add(
        TicketNote(
            ticket_id=ticket.id, author=user.username, kind=kind, created_at=now_utc(), body_enc=crypto.encrypt(body)
        )
    )


def claim(session: Session, ticket: CallbackTicket, user: StaffIdentity) -> None:
    """Take the ticket: assigned to me (new, or an unreachable one being retried)."""
    if ticket.status not in (S.NEW, S.UNREACHABLE) or ticket.erased_at is not None:
        raise WorkflowError("invalid_transition", status=ticket.status)
    if ticket.status == S.UNREACHABLE and not _may_change(ticket, user):
        raise WorkflowError("not_assignee")
    before = ticket.status
    ticket.status = S.ASSIGNED
    ticket.assigned_to = user.username
    ticket.next_attempt_at = None
    _note(session, ticket, user, "status", f"{before}>{S.ASSIGNED}")
    audit(session, user, "claim", ticket.id, f"from={before} to={S.ASSIGNED}")


def change_status(
    session: Session, ticket: CallbackTicket, user: StaffIdentity, target: str, next_attempt_at: datetime | None = None
) -> None:
    if ticket.erased_at is not None and target != S.CLOSED:
        raise WorkflowError("erased")
    if target not in TRANSITIONS.get(ticket.status, ()):
        raise WorkflowError("invalid_transition", status=ticket.status)
    if ticket.status != S.NEW and not _may_change(ticket, user):
        raise WorkflowError("not_assignee")
    if target == S.ASSIGNED:
        claim(session, ticket, user)
        return
    if target == S.UNREACHABLE:
        if next_attempt_at is None:
            raise WorkflowError("next_attempt_required")
        if to_utc(next_attempt_at) <= now_utc():
            raise WorkflowError("next_attempt_past")
        ticket.next_attempt_at = to_utc(next_attempt_at)
    else:
        ticket.next_attempt_at = None
    if target == S.CLOSED:
        ticket.closed_at = now_utc()
    before = ticket.status
    ticket.status = target
    ticket.assigned_to = ticket.assigned_to or user.username
    _note(session, ticket, user, "status", f"{before}>{target}")
    audit(session, user, "status", ticket.id, f"from={before} to={target}")


def add_note(session: Session, ticket: CallbackTicket, user: StaffIdentity, body: str) -> None:
    body = body.strip()
    if not body or len(body) > MAX_NOTE:
        raise WorkflowError("invalid_input")
    if ticket.erased_at is not None:
        raise WorkflowError("erased")
    _note(session, ticket, user, "note", body)
    audit(session, user, "note", ticket.id, f"chars={len(body)}")


def set_outcome(
    session: Session, ticket: CallbackTicket, user: StaffIdentity, window_id: str | None, known_windows: Sequence[str]
) -> None:
    if window_id and window_id not in known_windows:
        raise WorkflowError("invalid_input")
    if not _may_change(ticket, user):
        raise WorkflowError("not_assignee")
    ticket.outcome_window = window_id or None
    audit(session, user, "outcome", ticket.id, f"window={window_id or '-'}")


def check_reply(ticket: CallbackTicket, user: StaffIdentity) -> None:
    if ticket.status == S.CLOSED:
        raise WorkflowError("reply_closed")
    if not is_responsible(ticket, user):
        raise WorkflowError("reply_not_assignee")


def record_reply(session: Session, ticket: CallbackTicket, user: StaffIdentity, text: str) -> None:
    check_reply(ticket, user)
    _note(session, ticket, user, "reply", text)
    audit(session, user, "reply", ticket.id, f"chars={len(text)}")


# --- reading ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class InboxFilter:
    statuses: tuple[str, ...] = S.OPEN
    priority: str | None = None
    day: date | None = None
    day_field: str = "created"  # created | preferred
    window: str | None = None


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _inbox_query(f: InboxFilter):  # a SQLAlchemy Select
    q = select(CallbackTicket).where(CallbackTicket.status.in_(f.statuses))
    if f.day:
        start, end = jst_day_bounds(f.day)
        column = CallbackTicket.preferred_at if f.day_field == "preferred" else CallbackTicket.created_at
        q = q.where(and_(column >= start, column < end))
    if f.window:
        # windows is a JSON list of ids: match the quoted id in its text form (SQLite and PostgreSQL).
        q = q.where(cast(CallbackTicket.windows, String).like(f'%"{_like_escape(f.window)}"%', escape="\\"))
    return q.order_by(
        CallbackTicket.preferred_at.is_(None),  # nulls last (false sorts first), portable
        CallbackTicket.preferred_at.asc(),
        CallbackTicket.created_at.desc(),
        CallbackTicket.id.desc(),
    )


def inbox(session: Session, f: InboxFilter, limit: int = 300) -> list[CallbackTicket]:
    """The inbox: urgent tickets first, then by wished time. Priority is encrypted (issue 21,
    M-2), so the database cannot sort or filter by it: every ticket the other filters select is
    read and decrypted here (open tickets are few), then sorted (stably) and cut to `limit`."""
    tickets = list(session.execute(_inbox_query(f)).scalars())
    if f.priority:
        tickets = [t for t in tickets if t.priority == f.priority]
    tickets.sort(key=lambda t: t.priority != "urgent")
    return tickets[:limit]
