"""The staff web app (issue #4): inbox, tickets, audit log, export, statistics.

`create_app()` builds it; `python -m staff --host 127.0.0.1 --port 8000` serves it and
delivers staff notifications in the background. Flask is imported inside `create_app` so that
the action server can import the Flask-free helpers (bot.domain.display, bot.domain.labels).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from flask import Flask

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _secret_key() -> bytes:
    from bot.security.keys import load_or_create_secret

    return load_or_create_secret("MADOGUCHI_STAFF_SECRET", "staff_secret.key")


def create_app(config: Mapping[str, Any] | None = None) -> "Flask":
    from flask import Flask, render_template, request
    from flask_login import current_user
    from flask_wtf.csrf import CSRFError, CSRFProtect

    from bot import config as bot_config
    from bot.domain.display import need_label, slot_label, window_name
    from bot.domain.labels import label, t
    from bot.domain.phone import phone_for_staff
    from bot.domain.timeutil import fmt
    from bot.security.ratelimit import Rate, RateLimiter
    from bot.store import audit
    from bot.store.db import get_engine
    from staff import auth, public, supervisor, views, web

    app = Flask(__name__)
    cfg = bot_config.settings()
    settings = web.WebSettings.from_env()
    minutes = cfg.integer("MADOGUCHI_STAFF_SESSION_MINUTES")
    app.config.update(
        SECRET_KEY=_secret_key(),
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        SESSION_COOKIE_NAME="madoguchi_staff",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure in production and whenever the public URL is https (staff.web).
        SESSION_COOKIE_SECURE=settings.secure_cookie,
        WEB_SETTINGS=settings,
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (30-minute) session
        MAX_CONTENT_LENGTH=64 * 1024,
        PRIVACY_PATH=None,
        # Login attempts per client address and minute.
        LOGINS_PER_MINUTE=cfg.integer("MADOGUCHI_STAFF_LOGINS_PER_MINUTE"),
    )
    if config:
        app.config.update(config)
    # Per address as the app sees it: behind a reverse proxy, the proxy must pass the client
    # address (werkzeug ProxyFix) or it limits them all together.
    per_minute = app.config["LOGINS_PER_MINUTE"]
    app.extensions[auth.LOGIN_LIMIT] = RateLimiter(Rate(per_minute, max(1, int(per_minute))))
    web.install_proxy_fix(app, app.config["WEB_SETTINGS"].proxies)

    get_engine()  # the database at the migrations' head (bot.store.schema) before the first request

    CSRFProtect(app)
    auth.login_manager.init_app(app)
    auth.login_manager.login_message = t("flash.login_required")
    auth.login_manager.login_message_category = "error"
    for blueprint in (auth.bp, public.bp, views.bp, supervisor.bp):
        app.register_blueprint(blueprint)

    app.jinja_env.globals.update(
        t=t, label=label, window_name=window_name, need_label=need_label, slot_label=slot_label
    )
    app.jinja_env.filters["jst"] = fmt
    app.jinja_env.filters["phone"] = phone_for_staff

    public_endpoints = {"auth.login", "public.privacy", "public.health", "static"}

    @app.before_request
    def _require_login() -> Any:
        from flask import session

        # Who and where, for every audit row of this request (bot.store.audit, M-9).
        audit.origin.set(audit.Origin(request.remote_addr, session.get(auth.SESSION_REF)))
        if request.endpoint in public_endpoints:
            return None
        if not current_user.is_authenticated:
            return auth.login_manager.unauthorized()
        if web.session_too_old(session, app.config["WEB_SETTINGS"].max_session_s):
            return auth.end_session(t("flash.session_expired"))
        session.permanent = True  # the 30-minute lifetime restarts with every request
        return None

    @app.after_request
    def _headers(resp: Any) -> Any:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        # same-origin, not no-referrer: over https Flask-WTF refuses a form post without a
        # same-site Referer (WTF_CSRF_SSL_STRICT), and no address ever leaves for another site.
        resp.headers["Referrer-Policy"] = "same-origin"
        if app.config["WEB_SETTINGS"].hsts:
            resp.headers["Strict-Transport-Security"] = web.HSTS
        if request.endpoint != "static":
            resp.headers["Cache-Control"] = "no-store"
        if resp.status_code == 403:  # every refusal, whichever view refused (M-9)
            auth.record_refusal(f"{request.method} {request.path}"[:200])
        return resp

    def _error(code: int, kind: str) -> Any:
        return render_template("error.html", code=code, kind=kind), code

    @app.errorhandler(CSRFError)
    def _csrf(_err: CSRFError) -> Any:
        return _error(400, "csrf")

    for code, kind in (
        (400, "bad_request"),
        (403, "forbidden"),
        (404, "not_found"),
        (405, "not_allowed"),
        (413, "too_large"),
        (500, "server"),
    ):
        app.register_error_handler(code, lambda _e, code=code, kind=kind: _error(code, kind))
    return app
