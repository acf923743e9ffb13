"""Field encryption for personal data at rest (phone numbers, nicknames, stories, conversations).

MADOGUCHI_FERNET_KEYS holds comma-separated Fernet keys, newest first: MultiFernet decrypts
with any of them and encrypts with the first, so keys rotate without downtime
(`python -m bot.services.key_rotation rotate` re-encrypts every stored value with the newest key: tickets,
notes, the channel id map, the ticket outbox spool and Rasa's tracker events).

Fails closed: with MADOGUCHI_ENV=production a missing MADOGUCHI_FERNET_KEYS is an error (never
a generated key), and a value no key can decrypt raises `DecryptionError` everywhere.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from bot.security.keys import load_or_create_secret

ENV_KEYS = "MADOGUCHI_FERNET_KEYS"


class DecryptionError(ValueError):
    """A stored value that none of the configured keys decrypts (wrong or removed key, or damage)."""


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    raw = load_or_create_secret(ENV_KEYS, "fernet.key", fernet=True).decode()
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    return MultiFernet([Fernet(k) for k in keys])


def reset_keys() -> None:
    """Forget cached keys (after the environment changed, e.g. in rotation tests)."""
    _fernet.cache_clear()


def encrypt(value: str | None) -> str | None:
    if value is None:
        return None
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str | None) -> str | None:
    """The plaintext of `token` (None stays None); raises DecryptionError, never guesses."""
    if token is None:
        return None
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError("a stored value cannot be decrypted with MADOGUCHI_FERNET_KEYS") from exc


def rotate(token: str | None) -> str | None:
    if token is None:
        return None
    return _fernet().rotate(token.encode("ascii")).decode("ascii")
