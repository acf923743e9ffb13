"""Pseudonymous sender ids: a keyed hash of the platform id, so trackers never hold raw ids."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from bot.security.keys import load_or_create_secret

ENV_KEY = "MADOGUCHI_SENDER_KEY"


@lru_cache(maxsize=1)
def _key() -> bytes:
    return load_or_create_secret(ENV_KEY, "sender.key")


def pseudonymize(channel: str, platform_id: str) -> str:
    """`line:U4af…` → `line-3f2a…` (stable per key; 128 bits are plenty against collisions)."""
    return pseudonymize_with(_key(), channel, platform_id)


def pseudonymize_with(key: bytes, channel: str, platform_id: str) -> str:
    """The same, with an explicit key (tools that talk to another installation's stack)."""
    digest = hmac.new(key, f"{channel}:{platform_id}".encode("utf-8"), hashlib.sha256)
    return f"{channel}-{digest.hexdigest()[:32]}"


#: Drawn when the process starts and never stored: log references cannot be joined to stored
#: pseudonyms, nor across processes or restarts (issue 21, Low: pseudonym prefixes in logs).
_LOG_KEY = secrets.token_bytes(32)


def log_ref(sender_id: str | None) -> str:
    """A log-safe handle for a sender id: the channel and 8 hex of an HMAC under a per-process
    random key. Stable within this process (one person's lines can be followed), never a prefix
    of the pseudonym that the tracker, the tickets and the statistics store."""
    if not sender_id:
        return "-"
    prefix, sep, _ = sender_id.partition("-")
    token = hmac.new(_LOG_KEY, sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:8]
    return f"{prefix[:16]}-{token}" if sep else f"log-{token}"
