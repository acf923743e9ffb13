"""Tables: every table of the madoguchi database, on one declarative base (bot.store.base).

The callback ticket is the one model shared by the action server and the staff app; the staff
accounts (staff.models) and the staff notifications' outbox (bot.services.notify) are defined here
too, so that the store layer owns the whole schema and its migrations (bot/store/migrations,
issue 19) see every table. A change to a table here needs a migration: `make db-revision MSG=…`.

Personal fields (phone, nickname, situation text, platform ids) are stored encrypted
(`bot.security.crypto`); columns ending in `_enc` never hold plaintext. A ticket's `priority` and
`needs` are encrypted by their column types (`bot.store.sealed`, issue 21 M-2): a plaintext
`urgent` would tell who disclosed a crisis. The database can therefore not sort or filter by
them; the staff inbox does it after decrypting (staff.workflow.inbox).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship
from sqlalchemy.types import TypeDecorator

from bot import clock
from bot.store.base import Base
from bot.store.sealed import SealedJSON, SealedText


def utcnow() -> datetime:
    """Column default: the one clock's time (bot.clock), so a pinned demo stamps pinned times."""
    return clock.now()


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC everywhere.

    SQLite drops the offset of DateTime(timezone=True): a JST value would come back as a
    naive clock time 9 hours off. Writing UTC and reading it back as UTC keeps SQLite and
    PostgreSQL identical.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class TicketStatus:
    NEW = "new"
    ASSIGNED = "assigned"
    CONTACTED = "contacted"
    UNREACHABLE = "unreachable"
    CLOSED = "closed"
    ALL = (NEW, ASSIGNED, CONTACTED, UNREACHABLE, CLOSED)
    OPEN = (NEW, ASSIGNED, CONTACTED, UNREACHABLE)


class CallbackTicket(Base):
    __tablename__ = "callback_tickets"

    id = Column(Integer, primary_key=True)
    idempotency_key = Column(String(80), nullable=False, unique=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)
    sender_id = Column(String(64), nullable=True, index=True)  # pseudonymous; NULL after erasure
    channel = Column(String(16), nullable=False, default="rest")
    priority = Column(SealedText, nullable=False, default="normal")  # normal | urgent, encrypted
    status = Column(String(16), nullable=False, default=TicketStatus.NEW, index=True)

    relation = Column(String(16))
    relation_detail = Column(String(32))
    age_min = Column(Float)
    age_max = Column(Float)
    age_band = Column(String(16))
    situation_enc = Column(Text)
    needs = Column(SealedJSON, nullable=False, default=list)  # encrypted
    windows = Column(JSON, nullable=False, default=list)

    contact_method = Column(String(8), nullable=False)  # chat | phone
    phone_enc = Column(Text)
    nickname_enc = Column(Text)
    preferred_slot = Column(String(24))
    preferred_at = Column(UTCDateTime(), index=True)

    consent_version = Column(String(16), nullable=False)
    consent_at = Column(UTCDateTime(), nullable=False)
    share_conversation = Column(Boolean, nullable=False, default=False)
    # The Rasa conversation session the booking was made in: the timestamp of its `session_started`
    # event (0: before any), so a supervisor reads that session only (issue 21, M-8). NULL for a
    # ticket booked before it was kept: then no conversation is shown.
    session_start = Column(Float)

    assigned_to = Column(String(64))
    next_attempt_at = Column(UTCDateTime())
    outcome_window = Column(String(64))
    closed_at = Column(UTCDateTime())
    erased_at = Column(UTCDateTime())

    notes = relationship(
        "TicketNote", back_populates="ticket", cascade="all, delete-orphan", order_by="TicketNote.created_at"
    )


class TicketNote(Base):
    __tablename__ = "ticket_notes"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("callback_tickets.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    author = Column(String(64), nullable=False)
    kind = Column(String(16), nullable=False, default="note")  # note | reply | status
    body_enc = Column(Text, nullable=False)

    ticket = relationship("CallbackTicket", back_populates="notes")


class ConsentRecord(Base):
    """What the person agreed to, when, and under which version of the privacy notice."""

    __tablename__ = "consent_records"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(64), nullable=True, index=True)
    scope = Column(String(32), nullable=False)  # callback_summary | share_conversation
    agreed = Column(Boolean, nullable=False)
    notice_version = Column(String(16), nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class ChannelIdentity(Base):
    """Mapping from the pseudonymous sender id back to the platform id, needed only to push."""

    __tablename__ = "channel_identities"

    sender_id = Column(String(64), primary_key=True)
    channel = Column(String(16), nullable=False)
    platform_id_enc = Column(Text, nullable=False)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    last_seen_at = Column(UTCDateTime(), nullable=False, default=utcnow)


class ProcessedEvent(Base):
    """Webhook deduplication (LINE webhookEventId, Telegram update_id), kept 24 h."""

    __tablename__ = "processed_events"

    key = Column(String(128), primary_key=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)


class AuditEntry(Base):
    """Append-only and hash-chained: write it with `bot.store.audit.record` only."""

    __tablename__ = "audit_log"

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    actor = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)
    ticket_id = Column(Integer, index=True)
    detail = Column(Text)
    client = Column(String(64))  # the client address, or "cli"
    session_ref = Column(String(64))  # the login session's random id
    prev_hash = Column(String(64))
    row_hash = Column(String(64))


class StatEvent(Base):
    """Anonymous facts for 実態把握: no text, no ids beyond a per-installation pseudonym."""

    __tablename__ = "stat_events"
    __table_args__ = (UniqueConstraint("person", "kind", "conversation", name="uq_stat_once"),)

    id = Column(Integer, primary_key=True)
    at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    kind = Column(String(24), nullable=False)  # consultation | recommendation | callback
    person = Column(String(64), nullable=False, index=True)
    conversation = Column(String(64), nullable=False)  # session start key: one row per kind per session
    relation = Column(String(16))
    age_band = Column(String(16))
    needs = Column(JSON, nullable=False, default=list)
    windows = Column(JSON, nullable=False, default=list)
    hour = Column(Integer)


class ErasureRequest(Base):
    """Pending deletion of a sender's tracker events (done after Rasa saved the last turn)."""

    __tablename__ = "erasure_requests"

    id = Column(Integer, primary_key=True)
    sender_id = Column(String(64), nullable=False, index=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    done_at = Column(UTCDateTime())


class ErasureMark(Base):
    """A sender's data was erased at `erased_at` (issue 21, Low: erasure versus the outbox).

    A booking spooled to the ticket outbox before that moment is refused when the outbox delivers
    it (bot.store.tickets.book_callback, in the transaction of the insert), so a late delivery
    cannot recreate the erased ticket. `sender_ref` is a SHA-256 of the pseudonymous sender id,
    not the id itself; the purge forgets marks past the ticket retention.
    """

    __tablename__ = "erasure_marks"

    id = Column(Integer, primary_key=True)
    sender_ref = Column(String(64), nullable=False, index=True)
    erased_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)


# --- staff accounts (staff.models, staff.accounts) ------------------------------------------------
class StaffRole:
    STAFF = "staff"
    SUPERVISOR = "supervisor"
    ALL = (STAFF, SUPERVISOR)


def new_session_nonce() -> str:
    return secrets.token_hex(8)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default=StaffRole.STAFF)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    last_login_at = Column(UTCDateTime())
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(UTCDateTime())
    # Part of the login cookie: rotating it (logout, password change, disable) ends every session.
    session_nonce = Column(String(32), nullable=False, default=new_session_nonce)
    disabled_at = Column(UTCDateTime())


# --- staff notifications (bot.services.notify) ------------------------------------------------------
class NotificationOutbox(Base):
    __tablename__ = "notification_outbox"

    id = Column(Integer, primary_key=True)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    kind = Column(String(32), nullable=False)
    channel = Column(String(16), nullable=False)  # telegram | email | oncall_telegram | oncall_email
    # {"text", "subject", "ticket_id", "priority", ...}: no personal data, but the text says
    # 緊急 for an urgent ticket: encrypted (bot.store.sealed, issue 21 M-2).
    payload = Column(SealedJSON, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(UTCDateTime(), index=True)
    sent_at = Column(UTCDateTime(), index=True)
    last_error = Column(String(300))
