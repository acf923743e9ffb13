"""Where this machine's own callers reach Rasa's HTTP API: the outbox (``/execute``) and the
staff app (``/tracker``, ``/trigger_intent``).

MADOGUCHI_RASA_URL (default http://127.0.0.1:5005; production: a replica on 127.0.0.1, set by
deploy/run_two_instances.sh; when unset, its deprecated old name RASA_URL) and RASA_API_TOKEN, sent
as ``?token=`` (Rasa's ``--auth-token``), which production always requires (deploy/preflight.py).
The balancer never publishes this API. Both are read through bot.config.
"""

from __future__ import annotations

import urllib.parse

from bot import config


def base_url() -> str:
    return config.settings().text("MADOGUCHI_RASA_URL").rstrip("/")


def api_url(path: str, **params: str) -> str:
    """``base_url() + path`` with ``params`` and the token (when set) in the query string."""
    token = config.settings().text("RASA_API_TOKEN")
    if token:
        params["token"] = token
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return f"{base_url()}{path}{query}"
