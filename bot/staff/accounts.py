"""Staff accounts without Flask: argon2 hashing, creation, login with lockout.

Lockout: MAX_FAILURES wrong passwords in a row lock the account for LOCK_MINUTES (stored in
the database, so it holds across restarts and worker threads). A correct password during the
lock is refused too.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select

from bot.db import session_scope
from bot.models import AuditEntry
from bot.staff.models import Role, StaffUser, ensure_tables, new_session_nonce
from bot.staff.timeutil import now_utc, to_utc

MIN_PASSWORD_LENGTH = 12
MAX_FAILURES = 5
LOCK_MINUTES = 15
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,64}")

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash("madoguchi-dummy-password")


class AccountError(ValueError):
    """Invalid username, role or password (the message is for the command line)."""


@dataclass(frozen=True)
class StaffIdentity:
    """What the web app keeps of a logged-in account (no hash)."""

    id: int
    username: str
    role: str
    session_nonce: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == Role.SUPERVISOR


class LoginResult(enum.Enum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _identity(user: StaffUser) -> StaffIdentity:
    return StaffIdentity(user.id, user.username, user.role, user.session_nonce)


def create_user(username: str, password: str, role: str = Role.STAFF) -> StaffIdentity:
    if not USERNAME.fullmatch(username):
        raise AccountError("username: 2–64 characters of A–Z a–z 0–9 _ . @ -")
    if role not in Role.ALL:
        raise AccountError(f"role must be one of {', '.join(Role.ALL)}")
    ensure_tables()
    with session_scope() as session:
        if session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none():
            raise AccountError(f"user {username!r} already exists")
        user = StaffUser(username=username, password_hash=hash_password(password), role=role,
                         session_nonce=new_session_nonce())
        session.add(user)
        session.flush()
        return _identity(user)


def set_password(username: str, password: str) -> None:
    ensure_tables()
    with session_scope() as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is None:
            raise AccountError(f"no user {username!r}")
        user.password_hash = hash_password(password)
        user.session_nonce = new_session_nonce()
        user.failed_logins = 0
        user.locked_until = None


def unlock(username: str) -> None:
    ensure_tables()
    with session_scope() as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is None:
            raise AccountError(f"no user {username!r}")
        user.failed_logins = 0
        user.locked_until = None


def list_users() -> list[tuple[str, str, datetime | None]]:
    """(username, role, locked until — None unless locked now)."""
    ensure_tables()
    moment = now_utc()
    with session_scope() as session:
        rows = session.execute(select(StaffUser).order_by(StaffUser.username)).scalars()
        return [(u.username, u.role, to_utc(u.locked_until) if _locked(u, moment) else None) for u in rows]


def _locked(user: StaffUser, moment: datetime) -> bool:
    return user.locked_until is not None and to_utc(user.locked_until) > moment


def authenticate(username: str, password: str) -> tuple[LoginResult, StaffIdentity | None]:
    """Check a login; counts failures, locks after MAX_FAILURES, audits each outcome."""
    ensure_tables()
    moment = now_utc()
    with session_scope() as session:
        user = session.execute(
            select(StaffUser).where(StaffUser.username == username, StaffUser.disabled_at.is_(None))
        ).scalar_one_or_none()
        if user is None:
            try:
                _hasher.verify(_DUMMY_HASH, password)
            except VerificationError:
                pass
            session.add(AuditEntry(actor="-", action="login_failed", detail="unknown user"))
            return LoginResult.BAD_CREDENTIALS, None
        if _locked(user, moment):
            session.add(AuditEntry(actor=user.username, action="login_failed", detail="locked"))
            return LoginResult.LOCKED, None
        try:
            _hasher.verify(user.password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            user.failed_logins = (user.failed_logins or 0) + 1
            if user.failed_logins >= MAX_FAILURES:
                user.failed_logins = 0
                user.locked_until = moment + timedelta(minutes=LOCK_MINUTES)
                session.add(AuditEntry(actor=user.username, action="locked",
                                       detail=f"{MAX_FAILURES} failures, {LOCK_MINUTES} min"))
                return LoginResult.LOCKED, None
            session.add(AuditEntry(actor=user.username, action="login_failed",
                                   detail=f"failure {user.failed_logins}"))
            return LoginResult.BAD_CREDENTIALS, None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = moment
        session.add(AuditEntry(actor=user.username, action="login"))
        return LoginResult.OK, _identity(user)


def load_identity(user_id: int, nonce: str) -> StaffIdentity | None:
    """The account behind a session cookie, if it still exists, is enabled and the nonce matches."""
    with session_scope() as session:
        user = session.get(StaffUser, user_id)
        if user is None or user.disabled_at is not None or user.session_nonce != nonce:
            return None
        return _identity(user)


def end_sessions(user_id: int) -> None:
    """Logout: a new nonce invalidates every cookie issued for this account."""
    with session_scope() as session:
        user = session.get(StaffUser, user_id)
        if user is not None:
            user.session_nonce = new_session_nonce()
