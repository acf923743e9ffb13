"""Rasa's SQL tracker store with every event encrypted at rest (endpoints.yml, issue #12).

`EncryptedSQLTrackerStore` is Rasa's `SQLTrackerStore` on the same `events` table, except that
the `data` column — the whole event as JSON: user texts, bot texts, slot values such as the
phone number — is a Fernet token (`bot.crypto`, the tickets' MultiFernet keys). Rasa's own
code writes and reads it unchanged: the column type encrypts on write and decrypts on read.
The other columns hold names only: `type_name` (user, bot, slot…), `intent_name` (Rasa keeps
only intents of the domain), `action_name` (an action, slot or form name), `timestamp` and
the pseudonymous `sender_id`.

The database is MADOGUCHI_TRACKER_DB_URL (default: SQLite `var/tracker.db`), the one setting
that erasure and retention read too (`bot.erasure.tracker_db_url`); a `url`/`db` in the
endpoints file is refused so that the two can never point at different databases.

Erasure: when a turn ran `action_delete_data`, `save` stores the turn and then deletes every
event of the conversation, and marks the erasure request done only once none is left. So a
slow save can no longer write a conversation back after it was erased (the request is
completed where the last write happens).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, _create_sequence
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url
from sqlalchemy.ext.declarative import declarative_base
from sqlalchemy.types import TypeDecorator

from bot import crypto
from bot.erasure import ERASE_ACTION, mark_tracker_erased, tracker_db_url
from bot.keys import create_private_file

log = logging.getLogger(__name__)
_CONNECTION_KEYS = ("dialect", "port", "db", "username", "password", "login_db", "query")


def _is_plaintext(value: str) -> bool:
    """An event written before encryption (JSON); a Fernet token starts with "gAAAAA"."""
    return value.lstrip().startswith("{")


class EncryptedText(TypeDecorator):
    """Text stored as a Fernet token. Rows written before encryption are read as they are
    (`python -m bot.crypto rotate` encrypts them); a token no key decrypts raises."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Optional[str], dialect: Any) -> Optional[str]:
        return crypto.encrypt(value) if value is not None else None

    def process_result_value(self, value: Optional[str], dialect: Any) -> Optional[str]:
        if value is None or _is_plaintext(value):
            return value
        return crypto.decrypt(value)


_Base = declarative_base()


class EncryptedEvent(_Base):
    """Rasa's `events` table (same columns, same name), with `data` encrypted."""

    __tablename__ = "events"

    id = sa.Column(sa.Integer, _create_sequence(__tablename__), primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    type_name = sa.Column(sa.String(255), nullable=False)
    timestamp = sa.Column(sa.Float)
    intent_name = sa.Column(sa.String(255))
    action_name = sa.Column(sa.String(255))
    data = sa.Column(EncryptedText)


def turn_erased(tracker: DialogueStateTracker) -> bool:
    """Whether the latest turn (since the last user message) ran the erasure action."""
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecuted) and event.action_name == ERASE_ACTION:
            return True
        if isinstance(event, UserUttered):
            return False
    return False


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """`tracker_store: type: bot.tracker_store.EncryptedSQLTrackerStore` (no other keys)."""

    Base = _Base
    SQLEvent = EncryptedEvent

    def __init__(self, domain: Optional[Domain] = None, host: Optional[str] = None,
                 event_broker: Optional[EventBroker] = None, **kwargs: Any) -> None:
        given = [k for k in _CONNECTION_KEYS if kwargs.pop(k, None) not in (None, "")]
        if host or given:
            # Not ImportError/AttributeError: Rasa would swallow those and run in memory.
            raise ValueError("the tracker store reads MADOGUCHI_TRACKER_DB_URL only (erasure uses the same "
                             f"setting); remove {', '.join(['url', *given] if host else given)} from the endpoints")
        url = tracker_db_url()
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database:
            create_private_file(Path(parsed.database))
        crypto.encrypt("")  # no usable key: fail now, not at the first message
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        if turn_erased(tracker):
            self.erase(tracker.sender_id)

    def erase(self, sender_id: str) -> int:
        """Delete the conversation's events; the erasure request is done only when none is left."""
        event = self.SQLEvent
        with self.session_scope() as session:
            deleted = session.query(event).filter(event.sender_id == sender_id).delete(synchronize_session=False)
            session.commit()
            left = session.query(event).filter(event.sender_id == sender_id).count()
        if left == 0:
            try:
                mark_tracker_erased(sender_id)
            except Exception as exc:  # noqa: BLE001 — the request stays pending; the purge completes it
                log.warning("erasure request not marked done (%s); the purge will check it", type(exc).__name__)
        return int(deleted or 0)


def rotate_events(url: Optional[str] = None, batch: int = 500) -> int:
    """Re-encrypt every event with the newest key (and encrypt rows written before encryption).
    Returns the number of events rewritten."""
    engine = sa.create_engine(url or tracker_db_url(), future=True)
    count = 0
    try:
        last_id = 0
        while True:
            with engine.begin() as conn:
                try:
                    rows = conn.execute(sa.text("SELECT id, data FROM events WHERE id > :last ORDER BY id LIMIT :n"),
                                        {"last": last_id, "n": batch}).all()
                except sa.exc.SQLAlchemyError as exc:
                    if "events" in str(exc) and ("no such table" in str(exc) or "does not exist" in str(exc)):
                        return 0
                    raise
                for row_id, data in rows:
                    if data is not None:
                        token = crypto.encrypt(data) if _is_plaintext(data) else crypto.rotate(data)
                        conn.execute(sa.text("UPDATE events SET data = :d WHERE id = :i"), {"d": token, "i": row_id})
                        count += 1
            if len(rows) < batch:
                return count
            last_id = rows[-1][0]
    finally:
        engine.dispose()
