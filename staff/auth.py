"""Login, logout, sessions and roles (Flask-Login; accounts in staff.accounts)."""

from __future__ import annotations

import secrets
from functools import wraps
from typing import Any, Callable, TypeVar, cast
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response

from bot.domain.labels import t
from bot.store.audit import Origin
from bot.store.audit import origin as audit_origin
from bot.store.db import session_scope
from staff import web
from staff.accounts import (
    LOCK_MINUTES,
    LoginBusy,
    LoginResult,
    StaffIdentity,
    authenticate,
    end_sessions,
    load_identity,
)
from staff.forms import LoginForm, PostForm
from staff.workflow import audit

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.session_protection = "strong"

F = TypeVar("F", bound=Callable[..., Any])


class StaffPrincipal(UserMixin):
    """Flask-Login's user: the identity plus a cookie id that includes the session nonce."""

    def __init__(self, identity: StaffIdentity) -> None:
        self.identity = identity

    def get_id(self) -> str:
        return f"{self.identity.id}:{self.identity.session_nonce}"

    @property
    def username(self) -> str:
        return self.identity.username

    @property
    def role(self) -> str:
        return self.identity.role

    @property
    def is_supervisor(self) -> bool:
        return self.identity.is_supervisor


@login_manager.user_loader
def _load(user_id: str) -> StaffPrincipal | None:
    raw_id, _, nonce = user_id.partition(":")
    if not raw_id.isdigit() or not nonce:
        return None
    identity = load_identity(int(raw_id), nonce)
    return StaffPrincipal(identity) if identity else None


def me() -> StaffIdentity:
    return cast(StaffPrincipal, current_user).identity


def supervisor_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_supervisor:
            abort(403)
        return view(*args, **kwargs)

    return cast(F, wrapper)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //evil)."""
    if not target:
        return url_for("views.inbox")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("views.inbox")
    return target


LOGIN_LIMIT = "madoguchi_login_limit"
#: Session key: a random id of this login, recorded with every audit row (bot.store.audit).
SESSION_REF = "sid"


def record_refusal(what: str) -> None:
    """A 403 (or a refused login burst): who, from where, what."""
    name = current_user.username if current_user.is_authenticated else "-"
    with session_scope() as s:
        audit(s, name, "refused", None, what)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("login.html", form=form)
    status = 200
    # Counted before any hashing: a burst from one address costs nothing past the limit.
    if not current_app.extensions[LOGIN_LIMIT].allow(request.remote_addr or "-"):
        flash(t("flash.login_rate_limited"), "error")
        record_refusal("login rate limit")
        status = 429
    elif form.validate_on_submit():
        ref = secrets.token_hex(8)  # this attempt's session id, kept if it logs in
        audit_origin.set(Origin(request.remote_addr, ref))
        try:
            result, identity = authenticate(form.username.data.strip(), form.password.data)
        except LoginBusy:
            result, identity = LoginResult.BUSY, None
        if result is LoginResult.OK and identity:
            session.clear()
            session[SESSION_REF] = ref
            login_user(StaffPrincipal(identity))
            session.permanent = True
            session[web.LOGIN_AT] = web.now()  # the absolute lifetime counts from here (staff.web)
            return redirect(_safe_next(form.next.data))
        # One answer for a wrong password, an unknown user and a locked account.
        busy = result is LoginResult.BUSY
        flash(t("flash.login_rate_limited") if busy else t("flash.login_failed", minutes=LOCK_MINUTES), "error")
        status = 429 if busy else 401
    else:
        flash(t("flash.login_failed", minutes=LOCK_MINUTES), "error")
        status = 400
    form.password.data = ""
    return render_template("login.html", form=form), status


def end_session(message: str) -> Response:
    """Log out (the session is past its absolute lifetime) and send to the login page."""
    logout_user()
    session.clear()
    flash(message, "error")
    return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    form = PostForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        identity = me()
        end_sessions(identity.id)
        with session_scope() as s:
            audit(s, identity, "logout")
        logout_user()
    session.clear()
    flash(t("flash.logged_out"), "ok")
    return redirect(url_for("auth.login"))
