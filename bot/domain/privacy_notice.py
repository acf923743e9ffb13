"""Where the chat points people for the privacy notice (issue 21, H-3).

The greeting and the consent question end with 「個人情報の扱い: {privacy_url}」. With a public
address (MADOGUCHI_PUBLIC_URL, or MADOGUCHI_PRIVACY_URL for a notice hosted elsewhere) that is
the link to the notice, served at MADOGUCHI_PUBLIC_URL/privacy (the staff app, published by the
balancer). Without one — unset, or an address on this machine such as `make run`'s
http://127.0.0.1:8000, which nobody on LINE or Telegram can open — it is the notice's text
itself (bot/resources/privacy_notice.yml).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Optional
from urllib.parse import urlsplit

import yaml

from bot import config
from bot.domain.retention import event_retention, ticket_retention
from bot.paths import RESOURCES
from bot.security.netaddr import is_loopback

__all__ = ["RESOURCE", "notice_url", "notice_text", "reference"]

RESOURCE = RESOURCES / "privacy_notice.yml"


def _reachable(url: str) -> bool:
    parts = urlsplit(url.strip())
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not is_loopback(parts.hostname or "")


def notice_url(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The notice's address people can open, or None (``env``: the process environment when None)."""
    cfg = config.settings(env)
    explicit = cfg.text("MADOGUCHI_PRIVACY_URL")
    if explicit:
        return explicit if _reachable(explicit) else None
    base = cfg.text("MADOGUCHI_PUBLIC_URL").rstrip("/")
    return f"{base}/privacy" if base and _reachable(base) else None


@lru_cache(maxsize=1)
def _template() -> str:
    return str(yaml.safe_load(RESOURCE.read_text(encoding="utf-8"))["in_chat"])


def notice_text() -> str:
    return _template().format(event_days=event_retention().days, ticket_days=ticket_retention().days)


def reference(env: Optional[Mapping[str, str]] = None) -> str:
    """What follows 「個人情報の扱い: 」: the link when people can open it, else the text."""
    url = notice_url(env)
    return url if url else notice_text()
