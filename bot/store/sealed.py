"""Column types that keep a value encrypted at rest (issue 21, M-2), and the test for a token.

`SealedText` stores a string as a Fernet token (`bot.security.crypto`); `SealedJSON` stores a JSON value
as a token inside a JSON column (so an existing JSON column of PostgreSQL takes it unchanged).
Both decrypt on read; a value written before encryption (plaintext) is read as it is, and
`bot.store.schema_upgrade` encrypts such rows. A token no key decrypts raises `DecryptionError`.

Encryption is randomised: two equal values give different tokens, so the database can neither
compare nor sort these columns (an urgent ticket and a normal one look alike); code that needs
to sort by them decrypts first (staff.workflow.inbox).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from bot.security import crypto

#: Every Fernet token starts with these characters (version byte 0x80, then the time stamp).
TOKEN_PREFIX = "gAAAAA"


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)


def seal_text(value: Optional[str]) -> Optional[str]:
    """`value` encrypted, unless it already is (or is None)."""
    return value if value is None or is_token(value) else crypto.encrypt(value)


def seal_json(value: Any) -> Optional[str]:
    """A JSON value encrypted as one token; a token stays as it is."""
    return value if value is None or is_token(value) else crypto.encrypt(json.dumps(value, ensure_ascii=False))


class SealedText(TypeDecorator):
    """Text stored as a Fernet token."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Optional[str], dialect: Any) -> Optional[str]:
        return crypto.encrypt(value) if value is not None else None

    def process_result_value(self, value: Optional[str], dialect: Any) -> Optional[str]:
        return crypto.decrypt(value) if is_token(value) else value


class SealedJSON(TypeDecorator):
    """A JSON value stored as a Fernet token (a JSON string in a JSON column)."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return seal_json(value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return json.loads(crypto.decrypt(value) or "null") if is_token(value) else value
