"""How the staff app meets the web in production (issue 21, M-4): behind a fixed number of
reverse proxies, over https, with sessions that end.

    MADOGUCHI_ENV=production               turns the production defaults on
    MADOGUCHI_STAFF_PROXIES                proxies in front of the app whose X-Forwarded-For /
                                           X-Forwarded-Proto are trusted (production default 1:
                                           nginx; 0 = none, as on `make run`)
    MADOGUCHI_STAFF_SECURE_COOKIE=1        the Secure cookie without production (on in production,
                                           and whenever MADOGUCHI_PUBLIC_URL is https)
    MADOGUCHI_STAFF_SESSION_MAX_HOURS      absolute session lifetime from login (default 8),
                                           beside the 30 minutes of inactivity

With the Secure cookie the app also sends Strict-Transport-Security: a browser that saw it never
speaks plain HTTP to the host again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from bot import clock, config

__all__ = ["WebSettings", "HSTS", "LOGIN_AT", "now", "install_proxy_fix", "session_too_old", "quiet_loggers"]

HSTS = "max-age=31536000; includeSubDomains"
#: Session key: when this login happened (seconds since the epoch).
LOGIN_AT = "login_at"


def now() -> float:
    """Seconds since the epoch, from the one clock (bot.clock), so a pinned clock pins sessions."""
    return clock.timestamp()


@dataclass(frozen=True)
class WebSettings:
    production: bool
    proxies: int
    secure_cookie: bool
    max_session_s: float

    @property
    def hsts(self) -> bool:
        return self.secure_cookie

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "WebSettings":
        """From ``env``, or the process environment when None."""
        cfg = config.settings(env)
        production = cfg.text("MADOGUCHI_ENV").strip() == "production"
        proxies = cfg.integer("MADOGUCHI_STAFF_PROXIES", fallback=1 if production else 0)
        if proxies < 0:
            raise ValueError(f"MADOGUCHI_STAFF_PROXIES must be 0 or more, not {cfg.raw('MADOGUCHI_STAFF_PROXIES')}")
        https = cfg.text("MADOGUCHI_PUBLIC_URL").lower().startswith("https://")
        hours = cfg.number("MADOGUCHI_STAFF_SESSION_MAX_HOURS")
        return cls(
            production=production,
            proxies=proxies,
            secure_cookie=production or https or cfg.flag("MADOGUCHI_STAFF_SECURE_COOKIE"),
            max_session_s=hours * 3600,
        )


def install_proxy_fix(app: Any, proxies: int) -> None:
    """Trust exactly ``proxies`` hops of X-Forwarded-For/-Proto: the login limit then counts
    each client address, not the proxy's (one bucket for all staff)."""
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)


def session_too_old(session: Mapping[str, Any], max_session_s: float) -> bool:
    started = session.get(LOGIN_AT)
    return not isinstance(started, (int, float)) or now() - started > max_session_s


def quiet_loggers() -> None:
    """The staff app's logging, under Werkzeug (`make run`) and gunicorn alike."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines contain bot tokens
