"""Erasure (「記録を消して」, /delete) and retention (`make purge`).

What is erased for a sender: the conversation events in Rasa's SQL tracker store, the
personal fields of their tickets (the row stays for the audit trail, unlinked), the link
from their consent records, the pseudonym → platform id mapping, and the link from their
statistics rows (bot.store.stats_link: the keyed pseudonym becomes a random value; the anonymous
counts stay). Drafts waiting in this process's ticket outbox are dropped, and an erasure mark
(bot.store.models.ErasureMark) makes any outbox refuse a draft spooled before the erasure.

Retention (`purge`, docs/privacy.md's table, issue 21 M-3): closed tickets past the ticket
retention (an open one is kept, counted and reported: staff must close it); consent records
past the ticket retention once no ticket of that sender is left; the LINE/Telegram id map past
the conversation retention since the last message, unless that sender has an open ticket (the
staff reply needs it); the statistics link per bot.store.stats_link. Each run writes an audit row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, delete, func, not_, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot import clock, config
from bot.security.keys import var_dir
from bot.store import audit
from bot.store.db import get_engine, session_scope
from bot.store.models import (
    CallbackTicket,
    ChannelIdentity,
    ConsentRecord,
    ErasureMark,
    ErasureRequest,
    ProcessedEvent,
    TicketStatus,
)
from bot.store.stats_link import link_cutoff, unlink_older_than, unlink_person
from bot.store.tickets import erase_personal_fields, lock_sender, mark_erased

log = logging.getLogger(__name__)


ERASE_ACTION = "action_delete_data"
#: A completed request keeps its (pseudonymous) sender id this long, so that every purge in the
#: meantime checks again that the conversation did not come back; then the id is forgotten.
RECHECK_WINDOW = timedelta(days=1)


def tracker_db_url() -> str:
    """The URL of Rasa's tracker store: the one setting that Rasa (bot.rasa_plugins.tracker_store), erasure
    and retention all read, so they cannot point at different databases."""
    return config.settings().text("MADOGUCHI_TRACKER_DB_URL") or f"sqlite:///{var_dir() / 'tracker.db'}"


@dataclass(frozen=True)
class ErasureResult:
    tickets: int
    consents: int
    identities: int
    tracker_events: int


class ErasureIncomplete(RuntimeError):
    """Events of the conversation are still there after the DELETE."""


def _no_events_table(exc: SQLAlchemyError) -> bool:
    return "events" in str(exc) and ("no such table" in str(exc) or "does not exist" in str(exc))


def erase_tracker_events(sender_id: str, url: str | None = None) -> int:
    """Delete every stored event of one conversation and check that none is left.

    Returns the number deleted (0 if the store has no `events` table yet); raises
    ErasureIncomplete if rows remain.
    """
    engine = get_engine(url or tracker_db_url())
    try:
        with engine.begin() as conn:
            deleted = int(conn.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": sender_id}).rowcount or 0)
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": sender_id}).scalar_one()
    except SQLAlchemyError as exc:
        if _no_events_table(exc):
            return 0
        raise
    if left:
        raise ErasureIncomplete(f"{left} event(s) left after erasure")
    return deleted


def request_tracker_erasure(sender_id: str, db_url: str | None = None) -> int:
    with session_scope(db_url) as session:
        req = ErasureRequest(sender_id=sender_id)
        session.add(req)
        session.flush()
        return req.id


def mark_tracker_erased(sender_id: str, db_url: str | None = None) -> int:
    """The tracker store erased the conversation after saving its last turn and found nothing
    left: its pending requests are done (the purge still re-checks them for RECHECK_WINDOW)."""
    with session_scope(db_url) as session:
        return int(
            session.execute(
                update(ErasureRequest)
                .where(ErasureRequest.sender_id == sender_id, ErasureRequest.done_at.is_(None))
                .values(done_at=clock.now())
            ).rowcount
            or 0
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def complete_erasure_requests(
    db_url: str | None = None,
    tracker_url: str | None = None,
    min_age: timedelta = timedelta(0),
    now: datetime | None = None,
) -> int:
    """Erase the conversations of requests still pending after `min_age` (the turn that asked
    is saved by then), and of completed requests within RECHECK_WINDOW (a late save may have
    written one back). A request is done only when a check finds no event left; its sender id
    is forgotten after the window. Returns the events deleted."""
    moment = now or clock.now()
    deleted = 0
    with session_scope(db_url) as session:
        requests = (
            session.execute(select(ErasureRequest).where(ErasureRequest.sender_id != "-").order_by(ErasureRequest.id))
            .scalars()
            .all()
        )
        for req in requests:
            if req.done_at is None and _aware(req.created_at) > moment - min_age:
                continue
            try:
                found = erase_tracker_events(req.sender_id, tracker_url)
            except ErasureIncomplete:
                log.error("erasure request %d: events left after DELETE; it stays pending", req.id)
                req.done_at = None
                continue
            deleted += found
            if req.done_at is None:
                req.done_at = moment
            elif found:
                log.warning(
                    "erasure request %d: %d event(s) had been written back after erasure; deleted", req.id, found
                )
            if _aware(req.done_at) <= moment - RECHECK_WINDOW:
                req.sender_id = "-"
    return deleted


def erase_sender(sender_id: str, *, include_tracker: bool = True, db_url: str | None = None) -> ErasureResult:
    from bot.services import outbox

    outbox.discard(sender_id)  # a draft waiting for the database is never stored after erasure
    with session_scope(db_url) as session:
        # Under the sender's lock, as the outbox books: a draft spooled before now (in another
        # instance's spool, or read by a flush already under way) is refused when it is delivered.
        lock_sender(session, sender_id)
        mark_erased(session, sender_id)
        tickets = session.execute(select(CallbackTicket).where(CallbackTicket.sender_id == sender_id)).scalars().all()
        for t in tickets:
            erase_personal_fields(session, t)
            audit.record(session, "user", "erase", t.id, "personal fields erased")
        consents = session.execute(
            update(ConsentRecord).where(ConsentRecord.sender_id == sender_id).values(sender_id=None)
        ).rowcount
        identities = session.execute(delete(ChannelIdentity).where(ChannelIdentity.sender_id == sender_id)).rowcount
        unlink_person(session, sender_id)
    events = erase_tracker_events(sender_id) if include_tracker else 0
    result = ErasureResult(len(tickets), int(consents or 0), int(identities or 0), events)
    log.info(
        "erasure done: tickets=%d consents=%d identities=%d events=%d",
        result.tickets,
        result.consents,
        result.identities,
        result.tracker_events,
    )
    return result


@dataclass(frozen=True)
class PurgeResult:
    tickets: int
    tracker_events: int
    processed_events: int
    open_past_retention: int = 0  # kept: an open ticket is never deleted; staff must close it
    consents: int = 0
    identities: int = 0
    stats_unlinked: int = 0


def _purge_tickets(session: Session, cutoff: datetime) -> tuple[int, int]:
    """(closed tickets deleted, open tickets past retention kept)."""
    expired = CallbackTicket.created_at < cutoff
    closed = CallbackTicket.status == TicketStatus.CLOSED
    deleted = session.execute(delete(CallbackTicket).where(expired, closed)).rowcount
    kept = session.execute(select(func.count(CallbackTicket.id)).where(expired, not_(closed))).scalar_one()
    return int(deleted or 0), int(kept)


def _purge_links(session: Session, ticket_cutoff: datetime, event_cutoff: datetime) -> tuple[int, int]:
    """(consent records deleted, id map rows deleted)."""
    with_ticket = select(CallbackTicket.sender_id).where(CallbackTicket.sender_id.isnot(None))
    with_open = with_ticket.where(CallbackTicket.status.in_(TicketStatus.OPEN))
    consents = session.execute(
        delete(ConsentRecord)
        .where(
            ConsentRecord.created_at < ticket_cutoff,
            or_(ConsentRecord.sender_id.is_(None), ConsentRecord.sender_id.not_in(with_ticket)),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    identities = session.execute(
        delete(ChannelIdentity)
        .where(and_(ChannelIdentity.last_seen_at < event_cutoff, ChannelIdentity.sender_id.not_in(with_open)))
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(consents or 0), int(identities or 0)


def purge(
    *,
    ticket_days: int,
    event_days: int,
    now: datetime | None = None,
    db_url: str | None = None,
    tracker_url: str | None = None,
) -> PurgeResult:
    """Delete what is past retention: closed tickets (open ones are kept and reported), consent
    records, the id map, conversation events and webhook dedup keys; end the statistics link."""
    moment = now or clock.now()
    ticket_cutoff = moment - timedelta(days=ticket_days)
    event_cutoff = moment - timedelta(days=event_days)
    with session_scope(db_url) as session:
        tickets, open_old = _purge_tickets(session, ticket_cutoff)
        consents, identities = _purge_links(session, ticket_cutoff, event_cutoff)
        unlinked = unlink_older_than(session, link_cutoff(moment))
        session.execute(delete(ErasureMark).where(ErasureMark.erased_at < ticket_cutoff))
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
        if not _no_events_table(exc):
            raise
        events = 0
    events = int(events or 0) + complete_erasure_requests(
        db_url, tracker_url, min_age=timedelta(seconds=30), now=moment
    )
    result = PurgeResult(tickets, events, int(processed or 0), open_old, consents, identities, unlinked)
    with session_scope(db_url) as session:
        audit.record(session, "purge", "purge", detail=result_detail(result))
    if open_old:
        log.warning("purge: %d open ticket(s) older than %d days are kept; close them", open_old, ticket_days)
    log.info("purge done: %s", result_detail(result))
    return result


def result_detail(result: PurgeResult) -> str:
    return (
        f"tickets={result.tickets} open_past_retention={result.open_past_retention} "
        f"consents={result.consents} identities={result.identities} stats_unlinked={result.stats_unlinked} "
        f"events={result.tracker_events} processed={result.processed_events}"
    )
