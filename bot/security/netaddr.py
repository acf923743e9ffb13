"""Is a host or client address this machine? Shared by the start-time policy
(deploy/preflight.py) and the REST channel's limits (channels/rest.py)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (bracketed or with a zone) and ``localhost``; ``0.0.0.0``, ``::``, any
    other address or name and the empty string are not."""
    host = host.strip().strip("[]").split("%", 1)[0]
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
