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
