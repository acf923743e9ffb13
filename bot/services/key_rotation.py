"""Key rotation: re-encrypt every stored value with the newest key.

`python -m bot.services.key_rotation rotate`, after adding a new key at the front of
MADOGUCHI_FERNET_KEYS: tickets, notes, the channel id map, the sealed columns, the ticket outbox
spool and Rasa's tracker events (rows from before encryption are encrypted too).
"""

from __future__ import annotations

import sys

import sqlalchemy as sa

from bot.security import crypto
from bot.services import outbox
from bot.services.erasure import tracker_db_url
from bot.store.db import get_engine, session_scope
from bot.store.models import CallbackTicket, ChannelIdentity, TicketNote
from bot.store.schema_upgrade import EVENTS, MADOGUCHI, rotate_all


def rotate_events(url: str | None = None) -> int:
    """Re-encrypt every tracker event (data and names) with the newest key, and encrypt rows
    written before encryption. Returns the number of events rewritten."""
    engine = sa.create_engine(url or tracker_db_url(), future=True, hide_parameters=True)
    try:
        return rotate_all(engine, EVENTS)
    finally:
        engine.dispose()


def rotate_stored(db_url: str | None = None, tracker_url: str | None = None) -> int:
    """Re-encrypt every encrypted value with the newest key. Returns the number of values."""
    columns = {
        CallbackTicket: ("situation_enc", "phone_enc", "nickname_enc"),
        TicketNote: ("body_enc",),
        ChannelIdentity: ("platform_id_enc",),
    }
    count = 0
    with session_scope(db_url) as session:
        for model, names in columns.items():
            for row in session.query(model).yield_per(500):
                for name in names:
                    token = getattr(row, name)
                    if token:
                        setattr(row, name, crypto.rotate(token))
                        count += 1
    count += rotate_all(get_engine(db_url), MADOGUCHI)  # priority, needs, notifications
    return count + outbox.rotate_spool(crypto.rotate) + rotate_events(tracker_url)


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.services.key_rotation rotate`: after adding a new key at the front of MADOGUCHI_FERNET_KEYS."""
    args = argv if argv is not None else sys.argv[1:]
    if args != ["rotate"]:
        print("usage: python -m bot.services.key_rotation rotate", file=sys.stderr)
        return 2
    print(f"re-encrypted {rotate_stored()} values with the newest key")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
