"""Callback tickets: booking (idempotent), consent, and reading them back decrypted.

The action server books through `book_callback`; the staff app reads and updates through
the same functions and the same `CallbackTicket` model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.security import crypto
from bot.store import audit
from bot.store.db import session_scope
from bot.store.models import CallbackTicket, ConsentRecord, ErasureMark, TicketStatus

NOTICE_VERSION = "2026-11"


class ConsentRequired(PermissionError):
    """A ticket may only be stored after explicit consent (要配慮個人情報)."""


class SenderErased(PermissionError):
    """The sender's data was erased after this booking was spooled: it is never stored."""


# --- erasure marks (issue 21, Low: erasure versus the ticket outbox) ------------------------------
def erasure_ref(sender_id: str) -> str:
    """What an erasure mark keeps of the sender: a SHA-256 of the pseudonym, not the pseudonym."""
    return hashlib.sha256(f"madoguchi-erasure|{sender_id}".encode("utf-8")).hexdigest()


def lock_sender(session: Session, sender_id: str) -> None:
    """Serialise this transaction with any other that books for, or erases, this sender.

    PostgreSQL: a transaction-level advisory lock keyed by the sender (READ COMMITTED: what the
    next statement reads includes what the other committed). SQLite: the database's one write lock,
    taken now rather than at the insert, so the check and the insert see the same database.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"sender|{sender_id}".encode("utf-8")).digest()[:8], "big", signed=True)
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        session.execute(sa.text("UPDATE erasure_marks SET id = id WHERE 1 = 0"))


def mark_erased(session: Session, sender_id: str) -> None:
    """Record that this sender's data is erased now (call under `lock_sender`)."""
    session.add(ErasureMark(sender_ref=erasure_ref(sender_id), erased_at=clock.now()))
    session.flush()


def erased_since(session: Session, sender_id: str, moment: datetime) -> bool:
    """Whether this sender was erased at or after `moment`."""
    return bool(
        session.execute(
            select(func.count(ErasureMark.id)).where(
                ErasureMark.sender_ref == erasure_ref(sender_id), ErasureMark.erased_at >= moment
            )
        ).scalar_one()
    )


@dataclass(frozen=True)
class TicketDraft:
    sender_id: str
    channel: str
    conversation_key: str  # one booking per conversation turn sequence: makes retries idempotent
    contact_method: str  # chat | phone
    consent_at: datetime
    consent_version: str = NOTICE_VERSION
    priority: str = "normal"
    relation: str | None = None
    relation_detail: str | None = None
    age_min: float | None = None
    age_max: float | None = None
    age_band: str | None = None
    situation: str | None = None
    needs: Sequence[str] = field(default_factory=tuple)
    windows: Sequence[str] = field(default_factory=tuple)
    phone: str | None = None
    nickname: str | None = None
    preferred_slot: str | None = None
    preferred_at: datetime | None = None
    share_conversation: bool = False
    # The `session_started` timestamp of the Rasa session that books it (0.0 before any session
    # start): the one conversation a supervisor may read with the ticket (issue 21, M-8).
    session_start: float | None = None

    @property
    def idempotency_key(self) -> str:
        raw = f"{self.sender_id}|{self.conversation_key}".encode("utf-8")
        return hashlib.sha256(raw).hexdigest()[:40]


@dataclass(frozen=True)
class TicketView:
    """A ticket with personal fields decrypted, for staff and for confirmations."""

    id: int
    status: str
    priority: str
    created_at: datetime
    channel: str
    sender_id: str | None
    relation: str | None
    relation_detail: str | None
    age_min: float | None
    age_max: float | None
    age_band: str | None
    situation: str | None
    needs: list[str]
    windows: list[str]
    contact_method: str
    phone: str | None
    nickname: str | None
    preferred_slot: str | None
    preferred_at: datetime | None
    share_conversation: bool
    assigned_to: str | None
    next_attempt_at: datetime | None
    outcome_window: str | None
    session_start: float | None = None


def view(ticket: CallbackTicket) -> TicketView:
    return TicketView(
        id=ticket.id,
        status=ticket.status,
        priority=ticket.priority,
        created_at=ticket.created_at,
        channel=ticket.channel,
        sender_id=ticket.sender_id,
        relation=ticket.relation,
        relation_detail=ticket.relation_detail,
        age_min=ticket.age_min,
        age_max=ticket.age_max,
        age_band=ticket.age_band,
        situation=crypto.decrypt(ticket.situation_enc),
        needs=list(ticket.needs or []),
        windows=list(ticket.windows or []),
        contact_method=ticket.contact_method,
        phone=crypto.decrypt(ticket.phone_enc),
        nickname=crypto.decrypt(ticket.nickname_enc),
        preferred_slot=ticket.preferred_slot,
        preferred_at=ticket.preferred_at,
        share_conversation=bool(ticket.share_conversation),
        assigned_to=ticket.assigned_to,
        next_attempt_at=ticket.next_attempt_at,
        outcome_window=ticket.outcome_window,
        session_start=ticket.session_start,
    )


def record_consent(
    session: Session, sender_id: str, scope: str, agreed: bool, notice_version: str = NOTICE_VERSION
) -> ConsentRecord:
    rec = ConsentRecord(sender_id=sender_id, scope=scope, agreed=agreed, notice_version=notice_version)
    session.add(rec)
    return rec


def has_consent(session: Session, sender_id: str, scope: str = "callback_summary") -> bool:
    latest = session.execute(
        select(ConsentRecord)
        .where(ConsentRecord.sender_id == sender_id, ConsentRecord.scope == scope)
        .order_by(ConsentRecord.created_at.desc(), ConsentRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return bool(latest and latest.agreed)


def _ticket_from_draft(draft: TicketDraft) -> CallbackTicket:
    if draft.contact_method not in ("chat", "phone"):
        raise ValueError(f"unknown contact method {draft.contact_method!r}")
    if draft.contact_method == "phone" and not draft.phone:
        raise ValueError("a phone callback needs a phone number")
    return CallbackTicket(
        idempotency_key=draft.idempotency_key,
        sender_id=draft.sender_id,
        channel=draft.channel,
        priority=draft.priority,
        status=TicketStatus.NEW,
        relation=draft.relation,
        relation_detail=draft.relation_detail,
        age_min=draft.age_min,
        age_max=draft.age_max,
        age_band=draft.age_band,
        situation_enc=crypto.encrypt(draft.situation),
        needs=list(draft.needs),
        windows=list(draft.windows),
        contact_method=draft.contact_method,
        phone_enc=crypto.encrypt(draft.phone),
        nickname_enc=crypto.encrypt(draft.nickname),
        preferred_slot=draft.preferred_slot,
        preferred_at=draft.preferred_at,
        consent_version=draft.consent_version,
        consent_at=draft.consent_at,
        share_conversation=draft.share_conversation,
        session_start=draft.session_start,
    )


def book_callback(
    draft: TicketDraft, *, db_url: str | None = None, spooled_at: datetime | None = None
) -> tuple[TicketView, bool]:
    """Store the ticket once. Returns (ticket, created); a retry returns the stored one.

    Raises ConsentRequired without a recorded consent for this sender. `spooled_at`: when the
    ticket outbox spooled this draft; raises SenderErased if the sender was erased since then,
    checked under `lock_sender` in the transaction of the insert (an erasure either sees the new
    ticket and erases it, or comes first and the booking is refused).
    """
    with session_scope(db_url) as session:
        if spooled_at is not None:
            lock_sender(session, draft.sender_id)
            if erased_since(session, draft.sender_id, spooled_at):
                raise SenderErased("the sender was erased after this booking was spooled")
        if not has_consent(session, draft.sender_id):
            raise ConsentRequired(draft.sender_id)
        existing = session.execute(
            select(CallbackTicket).where(CallbackTicket.idempotency_key == draft.idempotency_key)
        ).scalar_one_or_none()
        if existing:
            return view(existing), False
        ticket = _ticket_from_draft(draft)
        session.add(ticket)
        try:
            session.flush()
        except IntegrityError:
            # A concurrent retry won the race: return its row.
            session.rollback()
            existing = session.execute(
                select(CallbackTicket).where(CallbackTicket.idempotency_key == draft.idempotency_key)
            ).scalar_one()
            return view(existing), False
        # No priority here: the audit log is not encrypted (issue 21, M-2).
        audit.record(session, "bot", "create", ticket.id)
        return view(ticket), True


def get_ticket(ticket_id: int, *, db_url: str | None = None) -> TicketView | None:
    with session_scope(db_url) as session:
        t = session.get(CallbackTicket, ticket_id)
        return view(t) if t else None


def tickets_for_sender(sender_id: str, *, db_url: str | None = None) -> list[TicketView]:
    with session_scope(db_url) as session:
        rows = session.execute(
            select(CallbackTicket).where(CallbackTicket.sender_id == sender_id).order_by(CallbackTicket.id)
        ).scalars()
        return [view(t) for t in rows]


def count_recent_tickets(
    sender_id: str, since: datetime, *, excluding_key: str | None = None, db_url: str | None = None
) -> int:
    """How many tickets this sender booked at or after `since`, whatever their status (issue 21, M-5).

    `sender_id` is the pseudonymous id the tickets carry (`bot.security.pseudonym`: a keyed hash of
    the platform id, the tracker's sender id), never a platform id. An erased ticket has no sender
    any more and is not counted. `excluding_key`: a booking's own idempotency key, so that a retry
    of a booking already stored is not counted against itself.
    """
    query = select(func.count(CallbackTicket.id)).where(
        CallbackTicket.sender_id == sender_id, CallbackTicket.created_at >= since
    )
    if excluding_key is not None:
        query = query.where(CallbackTicket.idempotency_key != excluding_key)
    with session_scope(db_url) as session:
        return int(session.execute(query).scalar_one())


def erase_personal_fields(session: Session, ticket: CallbackTicket) -> None:
    """Keep the row for the audit trail, drop everything that identifies or describes the person."""
    ticket.sender_id = None
    ticket.phone_enc = None
    ticket.nickname_enc = None
    ticket.situation_enc = None
    ticket.relation_detail = None
    ticket.erased_at = clock.now()
    for note in ticket.notes:
        session.delete(note)
