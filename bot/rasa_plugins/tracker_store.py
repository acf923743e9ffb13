"""Rasa's SQL tracker store with every event encrypted at rest (endpoints.yml, issue #12).

`EncryptedSQLTrackerStore` is Rasa's `SQLTrackerStore` on the same `events` table, except that
the `data` column — the whole event as JSON: user texts, bot texts, slot values such as the
phone number — is a Fernet token (`bot.security.crypto`, the tickets' MultiFernet keys). Rasa's own
code writes and reads it unchanged: the column type encrypts on write and decrypts on read.
`intent_name` and `action_name` (an action, slot or form name) are encrypted the same way
(issue 21, M-2): `crisis` or `action_crisis_support` in plaintext would tell who disclosed a
crisis, and when. Rasa never reads them back (it reads `data`, `type_name`, `timestamp`).
In plaintext: `type_name` (user, bot, slot…), `timestamp` and the pseudonymous `sender_id`.
Rows written before are encrypted by `bot.store.schema_upgrade` (`python -m deploy.init_db`, and when
the store starts).

The database is MADOGUCHI_TRACKER_DB_URL (default: SQLite `var/tracker.db`), the one setting
that erasure and retention read too (`bot.services.erasure.tracker_db_url`); a `url`/`db` in the
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

from bot.security import crypto
from bot.security.keys import create_private_file
from bot.services.erasure import ERASE_ACTION, mark_tracker_erased, tracker_db_url
from bot.store.sealed import SealedText

log = logging.getLogger(__name__)
_CONNECTION_KEYS = ("dialect", "port", "db", "username", "password", "login_db", "query")


# Rasa's `events` table has a base of its own, apart from madoguchi's (bot.store.base): the table
# is Rasa's, in the tracker database (MADOGUCHI_TRACKER_DB_URL). Rasa's SQLTrackerStore creates it
# with create_all when it starts (and deploy.init_db before the replicas); madoguchi's Alembic
# migrations (issue 19) neither create nor change it, and its one upgrade — the names encrypted,
# TEXT on PostgreSQL — is bot.store.schema_upgrade.upgrade_events.
_Base: Any = declarative_base()  # SQLAlchemy 1.4 without its mypy plugin: an untyped base


class EncryptedEvent(_Base):
    """Rasa's `events` table (same columns, same name), with `data` and the names encrypted."""

    __tablename__ = "events"

    id = sa.Column(sa.Integer, _create_sequence(__tablename__), primary_key=True)
    sender_id = sa.Column(sa.String(255), nullable=False, index=True)
    type_name = sa.Column(sa.String(255), nullable=False)
    timestamp = sa.Column(sa.Float)
    intent_name = sa.Column(SealedText)
    action_name = sa.Column(SealedText)
    data = sa.Column(SealedText)


def turn_erased(tracker: DialogueStateTracker) -> bool:
    """Whether the latest turn (since the last user message) ran the erasure action."""
    for event in reversed(tracker.events):
        if isinstance(event, ActionExecuted) and event.action_name == ERASE_ACTION:
            return True
        if isinstance(event, UserUttered):
            return False
    return False


class EncryptedSQLTrackerStore(SQLTrackerStore):
    """`tracker_store: type: bot.rasa_plugins.tracker_store.EncryptedSQLTrackerStore` (no other keys)."""

    Base = _Base
    SQLEvent = EncryptedEvent

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        given = [k for k in _CONNECTION_KEYS if kwargs.pop(k, None) not in (None, "")]
        if host or given:
            # Not ImportError/AttributeError: Rasa would swallow those and run in memory.
            raise ValueError(
                "the tracker store reads MADOGUCHI_TRACKER_DB_URL only (erasure uses the same "
                f"setting); remove {', '.join(['url', *given] if host else given)} from the endpoints"
            )
        url = tracker_db_url()
        parsed = make_url(url)
        if parsed.drivername.startswith("sqlite") and parsed.database:
            create_private_file(Path(parsed.database))
        crypto.encrypt("")  # no usable key: fail now, not at the first message
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)
        from bot.store.schema_upgrade import upgrade_events

        upgrade_events(self.engine)

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
            except Exception as exc:  # the request stays pending; the purge completes it
                log.warning("erasure request not marked done (%s); the purge will check it", type(exc).__name__)
        return int(deleted or 0)
