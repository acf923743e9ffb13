"""Staff accounts without Flask: argon2 hashing, creation, login with lockout.

Lockout: MAX_FAILURES wrong passwords in a row lock the account for LOCK_MINUTES (stored in
the database, so it holds across restarts and worker threads). A correct password during the
lock is refused too. Failures are counted with one atomic UPDATE (… = failed_logins + 1), so
parallel attempts cannot overwrite each other's count, and a login succeeds only if no
parallel attempt locked the account meanwhile.

Every attempt costs exactly one argon2 verification — against a dummy hash for an unknown or
locked account — so neither answer nor timing tells those apart from a wrong password. At most
HASH_WORKERS verifications (64 MiB each by default) run at once; the others wait up to
HASH_WAIT_S, then the attempt is refused as busy (LoginBusy).
"""

from __future__ import annotations

import enum
import getpass
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from bot import config
from bot.domain.timeutil import now_utc, to_utc
from bot.store.audit import record
from bot.store.db import session_scope
from staff.models import Role, StaffUser, new_session_nonce

MIN_PASSWORD_LENGTH = 12
MAX_FAILURES = 5
LOCK_MINUTES = 15
USERNAME = re.compile(r"[A-Za-z0-9_.@-]{2,64}")

_hasher = PasswordHasher()
# Verified against when the username is unknown or locked, so every path costs one verification.
_DUMMY_HASH = _hasher.hash("madoguchi-dummy-password")
# Read once: the pool of hashing slots is made when this module is imported.
HASH_WORKERS = max(1, config.settings().integer("MADOGUCHI_STAFF_HASH_WORKERS"))
HASH_WAIT_S = 10.0
_hash_slots = threading.BoundedSemaphore(HASH_WORKERS)


class LoginBusy(RuntimeError):
    """Every hashing slot stayed busy for HASH_WAIT_S: the attempt is refused, not queued forever."""


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
    BUSY = "busy"  # no hashing slot in time (set by the web layer, never by authenticate)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _identity(user: StaffUser) -> StaffIdentity:
    return StaffIdentity(user.id, user.username, user.role, user.session_nonce)


def cli_actor() -> str:
    """The audit actor of an account change from the command line: the login that ran it."""
    try:
        return f"cli:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return "cli:?"


def _user(session: Session, username: str) -> StaffUser:
    user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def create_user(username: str, password: str, role: str = Role.STAFF, *, by: str | None = None) -> StaffIdentity:
    if not USERNAME.fullmatch(username):
        raise AccountError("username: 2–64 characters of A–Z a–z 0–9 _ . @ -")
    if role not in Role.ALL:
        raise AccountError(f"role must be one of {', '.join(Role.ALL)}")
    with session_scope() as session:
        if session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none():
            raise AccountError(f"user {username!r} already exists")
        user = StaffUser(
            username=username, password_hash=hash_password(password), role=role, session_nonce=new_session_nonce()
        )
        session.add(user)
        session.flush()
        record(session, by or cli_actor(), "account_create", detail=f"user={username} role={role}")
        return _identity(user)


def set_password(username: str, password: str, *, by: str | None = None) -> None:
    with session_scope() as session:
        user = _user(session, username)
        user.password_hash = hash_password(password)
        user.session_nonce = new_session_nonce()
        user.failed_logins = 0
        user.locked_until = None
        record(session, by or cli_actor(), "account_password", detail=f"user={username}")


def unlock(username: str, *, by: str | None = None) -> None:
    with session_scope() as session:
        user = _user(session, username)
        user.failed_logins = 0
        user.locked_until = None
        record(session, by or cli_actor(), "account_unlock", detail=f"user={username}")


def disable(username: str, *, by: str | None = None) -> None:
    """A leaver: every session ends now (new nonce) and no login succeeds any more."""
    with session_scope() as session:
        user = _user(session, username)
        user.disabled_at = user.disabled_at or now_utc()
        user.session_nonce = new_session_nonce()
        record(session, by or cli_actor(), "account_disable", detail=f"user={username}")


def list_users() -> list[tuple[str, str, datetime | None]]:
    """(username, role, locked until — None unless locked now)."""
    moment = now_utc()
    with session_scope() as session:
        rows = session.execute(select(StaffUser).order_by(StaffUser.username)).scalars()
        return [(u.username, u.role, to_utc(u.locked_until) if _locked(u, moment) else None) for u in rows]


def _locked(user: StaffUser, moment: datetime) -> bool:
    return user.locked_until is not None and to_utc(user.locked_until) > moment


def _verify(password_hash: str, password: str) -> bool:
    """One argon2 verification in one of the HASH_WORKERS slots."""
    if not _hash_slots.acquire(timeout=HASH_WAIT_S):
        raise LoginBusy("all password hashing slots are busy")
    try:
        _hasher.verify(password_hash, password)
        return True
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    finally:
        _hash_slots.release()


def authenticate(username: str, password: str) -> tuple[LoginResult, StaffIdentity | None]:
    """Check a login; counts failures, locks after MAX_FAILURES, audits each outcome.

    Raises LoginBusy when no hashing slot frees up in time (nothing is counted then).
    """
    moment = now_utc()
    with session_scope() as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        disabled = user is not None and user.disabled_at is not None
        account = (user.id, user.username, user.password_hash, _locked(user, moment)) if user and not disabled else None
    if account is None or account[3]:
        _verify(_DUMMY_HASH, password)  # the same cost as a real attempt
        why = "locked" if account else ("disabled" if disabled else "unknown user")
        with session_scope() as session:
            record(session, username[:64] if disabled else (account[1] if account else "-"), "login_failed", detail=why)
        return (LoginResult.LOCKED if account else LoginResult.BAD_CREDENTIALS), None
    user_id, name, password_hash, _ = account
    ok = _verify(password_hash, password)
    row = StaffUser.id == user_id
    with session_scope() as session:
        if not ok:
            session.execute(update(StaffUser).where(row).values(failed_logins=StaffUser.failed_logins + 1))
            failures = session.execute(select(StaffUser.failed_logins).where(row)).scalar_one()
            if failures >= MAX_FAILURES:
                session.execute(
                    update(StaffUser)
                    .where(row)
                    .values(failed_logins=0, locked_until=moment + timedelta(minutes=LOCK_MINUTES))
                )
                record(session, name, "locked", detail=f"{MAX_FAILURES} failures, {LOCK_MINUTES} min")
                return LoginResult.LOCKED, None
            record(session, name, "login_failed", detail=f"failure {failures}")
            return LoginResult.BAD_CREDENTIALS, None
        # Only if no parallel attempt locked the account since it was read.
        not_locked = or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= moment)
        done = session.execute(
            update(StaffUser).where(row, not_locked).values(failed_logins=0, locked_until=None, last_login_at=moment)
        ).rowcount
        if not done:
            record(session, name, "login_failed", detail="locked")
            return LoginResult.LOCKED, None
        user = session.get(StaffUser, user_id)
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        record(session, name, "login")
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
