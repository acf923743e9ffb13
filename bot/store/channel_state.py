"""Channel bookkeeping: the pseudonym → platform id map (for push) and webhook deduplication.

Both tables live in the shared database (`bot.store.db`). Platform ids are stored encrypted; the
tracker only ever sees the pseudonymous sender id (`bot.security.pseudonym`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import clock
from bot.security.crypto import decrypt, encrypt
from bot.store import db
from bot.store.models import ChannelIdentity, ProcessedEvent

__all__ = ["remember_identity", "platform_id_for", "forget_identity", "claim_event", "purge_processed"]

# The connectors call these from worker threads (asyncio.to_thread). bot.store.db.get_engine is an
# unlocked lru_cache, so two first calls at once would both migrate the database and one would fail.
_engine_lock = threading.Lock()


@contextmanager
def session_scope() -> Iterator[Session]:
    with _engine_lock:
        db.get_engine(db.database_url())
    with db.session_scope() as session:
        yield session


def remember_identity(sender_id: str, channel: str, platform_id: str) -> None:
    """Record (or refresh) which platform user a pseudonymous sender id stands for.

    Args:
        sender_id (:obj:`str`): the pseudonymous id (``bot.security.pseudonym.pseudonymize``).
        channel (:obj:`str`): ``"line"`` or ``"telegram"``.
        platform_id (:obj:`str`): the raw platform id; stored encrypted.
    """
    now = clock.now()
    for attempt in range(2):
        try:
            with session_scope() as s:
                row = s.get(ChannelIdentity, sender_id)
                if row is None:
                    s.add(
                        ChannelIdentity(
                            sender_id=sender_id,
                            channel=channel,
                            platform_id_enc=encrypt(platform_id),
                            created_at=now,
                            last_seen_at=now,
                        )
                    )
                else:
                    row.channel = channel
                    # Re-encrypt only when needed: Fernet tokens differ each time.
                    if decrypt(row.platform_id_enc) != platform_id:
                        row.platform_id_enc = encrypt(platform_id)
                    row.last_seen_at = now
            return
        except IntegrityError:
            # Another process inserted the same sender between our read and write: update it.
            if attempt:
                raise


def platform_id_for(sender_id: str) -> tuple[str, str] | None:
    """Map a pseudonymous sender id back to ``(channel, raw platform id)``.

    Returns:
        :obj:`tuple` | :obj:`None`: :obj:`None` when unknown or forgotten; a value the keys cannot decrypt raises
        ``bot.security.crypto.DecryptionError`` (never a silent "unknown").
    """
    with session_scope() as s:
        row = s.get(ChannelIdentity, sender_id)
        if row is None:
            return None
        raw = decrypt(row.platform_id_enc)
        return (row.channel, raw) if raw is not None else None


def forget_identity(sender_id: str) -> bool:
    """Delete the mapping (data erasure, unfollow). Returns whether a row was deleted."""
    with session_scope() as s:
        result = s.execute(delete(ChannelIdentity).where(ChannelIdentity.sender_id == sender_id))
        return bool(result.rowcount)


def claim_event(key: str) -> bool:
    """Claim a webhook event for processing, exactly once across processes.

    The INSERT relies on the primary key: whichever process commits first wins, the others get
    an IntegrityError. No read-then-write race, on SQLite and PostgreSQL alike.

    Args:
        key (:obj:`str`): ``"line:<webhookEventId>"`` or ``"tg:<update_id>"`` (≤128 chars).

    Returns:
        :obj:`bool`: :obj:`True` if this call claimed it, :obj:`False` if it was already claimed.
    """
    try:
        with session_scope() as s:
            s.add(ProcessedEvent(key=key, created_at=clock.now()))
        return True
    except IntegrityError:
        return False


def purge_processed(older_than: timedelta) -> int:
    """Delete dedup keys older than ``older_than``; returns how many rows went."""
    cutoff = clock.now() - older_than
    with session_scope() as s:
        result = s.execute(delete(ProcessedEvent).where(ProcessedEvent.created_at < cutoff))
        return int(result.rowcount or 0)
