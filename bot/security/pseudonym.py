"""Pseudonymous sender ids: a keyed hash of the platform id, so trackers never hold raw ids."""

from __future__ import annotations

import hashlib
import hmac
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
