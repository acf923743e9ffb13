"""Erasure (「記録を消して」, /delete) and retention (`make purge`).

What is erased for a sender: the conversation events in Rasa's SQL tracker store, the
personal fields of their tickets (the row stays for the audit trail, unlinked), the link
from their consent records, and the pseudonym → platform id mapping. Anonymous statistics
(which hold no text and no id) stay.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from bot.db import get_engine, session_scope
from bot.keys import var_dir
from bot.models import (
    AuditEntry,
    CallbackTicket,
    ChannelIdentity,
    ConsentRecord,
    ErasureRequest,
    ProcessedEvent,
)
from bot.tickets import erase_personal_fields

log = logging.getLogger(__name__)


def tracker_db_url() -> str:
    """The URL of Rasa's SQL tracker store (endpoints.yml uses the same value)."""
    return os.environ.get("MADOGUCHI_TRACKER_DB_URL") or f"sqlite:///{var_dir() / 'tracker.db'}"


@dataclass(frozen=True)
class ErasureResult:
    tickets: int
    consents: int
    identities: int
    tracker_events: int


def erase_tracker_events(sender_id: str, url: str | None = None) -> int:
    """Delete every stored event of one conversation. 0 if the store has no `events` table yet."""
    engine = get_engine(url or tracker_db_url())
    try:
        with engine.begin() as conn:
            result = conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id})
            return int(result.rowcount or 0)
    except SQLAlchemyError as exc:
        if "events" in str(exc) and ("no such table" in str(exc) or "does not exist" in str(exc)):
            return 0
        raise


def request_tracker_erasure(sender_id: str, db_url: str | None = None) -> int:
    with session_scope(db_url) as session:
        req = ErasureRequest(sender_id=sender_id)
        session.add(req)
        session.flush()
        return req.id


def complete_erasure_requests(db_url: str | None = None, tracker_url: str | None = None,
                              min_age: timedelta = timedelta(0)) -> int:
    """Erase tracker events for pending requests older than `min_age`. Returns events deleted."""
    cutoff = datetime.now(timezone.utc) - min_age
    deleted = 0
    with session_scope(db_url) as session:
        pending = session.execute(
            select(ErasureRequest).where(ErasureRequest.done_at.is_(None))
        ).scalars().all()
        for req in pending:
            created = req.created_at if req.created_at.tzinfo else req.created_at.replace(tzinfo=timezone.utc)
            if created > cutoff:
                continue
            deleted += erase_tracker_events(req.sender_id, tracker_url)
            req.done_at = datetime.now(timezone.utc)
            req.sender_id = "-"
    return deleted


def erase_sender(sender_id: str, *, include_tracker: bool = True, db_url: str | None = None) -> ErasureResult:
    from bot import outbox

    outbox.discard(sender_id)  # a draft waiting for the database is never stored after erasure
    with session_scope(db_url) as session:
        tickets = session.execute(select(CallbackTicket).where(CallbackTicket.sender_id == sender_id)).scalars().all()
        for t in tickets:
            erase_personal_fields(session, t)
            session.add(AuditEntry(actor="user", action="erase", ticket_id=t.id, detail="personal fields erased"))
        consents = session.execute(
            update(ConsentRecord).where(ConsentRecord.sender_id == sender_id).values(sender_id=None)
        ).rowcount
        identities = session.execute(delete(ChannelIdentity).where(ChannelIdentity.sender_id == sender_id)).rowcount
    events = erase_tracker_events(sender_id) if include_tracker else 0
    result = ErasureResult(len(tickets), int(consents or 0), int(identities or 0), events)
    log.info("erasure done: tickets=%d consents=%d identities=%d events=%d",
             result.tickets, result.consents, result.identities, result.tracker_events)
    return result


@dataclass(frozen=True)
class PurgeResult:
    tickets: int
    tracker_events: int
    processed_events: int


def purge(*, ticket_days: int, event_days: int, now: datetime | None = None,
          db_url: str | None = None, tracker_url: str | None = None) -> PurgeResult:
    """Delete what is past retention: closed tickets, conversation events, webhook dedup keys."""
    moment = now or datetime.now(timezone.utc)
    ticket_cutoff = moment - timedelta(days=ticket_days)
    event_cutoff = moment - timedelta(days=event_days)
    with session_scope(db_url) as session:
        tickets = session.execute(
            delete(CallbackTicket).where(CallbackTicket.created_at < ticket_cutoff)
        ).rowcount
        processed = session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.created_at < moment - timedelta(hours=24))
        ).rowcount
    engine = get_engine(tracker_url or tracker_db_url())
    try:
        with engine.begin() as conn:
            events = conn.execute(
                text("DELETE FROM events WHERE timestamp < :cutoff"), {"cutoff": event_cutoff.timestamp()}
            ).rowcount
    except SQLAlchemyError as exc:
        if "no such table" in str(exc) or "does not exist" in str(exc):
            events = 0
        else:
            raise
    events = int(events or 0) + complete_erasure_requests(db_url, tracker_url, min_age=timedelta(seconds=30))
    result = PurgeResult(int(tickets or 0), events, int(processed or 0))
    log.info("purge done: tickets=%d events=%d processed=%d", *result.__dict__.values())
    return result
