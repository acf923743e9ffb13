"""Field encryption for personal data at rest (phone numbers, nicknames).

MADOGUCHI_FERNET_KEYS holds comma-separated Fernet keys, newest first: MultiFernet decrypts
with any of them and encrypts with the first, so keys rotate without downtime
(`python -m bot.crypto rotate` re-encrypts stored rows with the newest key).
"""
from __future__ import annotations

import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.keys import load_or_create_secret

ENV_KEYS = "MADOGUCHI_FERNET_KEYS"


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    raw = os.environ.get(ENV_KEYS)
    keys = [k.strip() for k in raw.split(",") if k.strip()] if raw else [
        load_or_create_secret(None, "fernet.key", fernet=True).decode()
    ]
    return MultiFernet([Fernet(k) for k in keys])


def reset_keys() -> None:
    """Forget cached keys (after the environment changed, e.g. in rotation tests)."""
    _fernet.cache_clear()


def encrypt(value: str | None) -> str | None:
    if value is None:
        return None
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        return None


def rotate(token: str | None) -> str | None:
    if token is None:
        return None
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


def rotate_stored(db_url: str | None = None) -> int:
    """Re-encrypt every encrypted column with the newest key. Returns the number of values."""
    from bot.db import session_scope
    from bot.models import CallbackTicket, ChannelIdentity, TicketNote

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
                        setattr(row, name, rotate(token))
                        count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.crypto rotate`: after adding a new key at the front of MADOGUCHI_FERNET_KEYS."""
    import sys

    args = argv if argv is not None else sys.argv[1:]
    if args != ["rotate"]:
        print("usage: python -m bot.crypto rotate", file=sys.stderr)
        return 2
    print(f"re-encrypted {rotate_stored()} values with the newest key")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
