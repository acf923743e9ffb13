"""Staff accounts. The table lives in the shared database (bot.store.base.Base)."""

from __future__ import annotations

import secrets
from functools import lru_cache

from sqlalchemy import Column, Integer, String
from sqlalchemy.engine import Engine

from bot.store.base import Base
from bot.store.db import get_engine
from bot.store.models import UTCDateTime, utcnow


class Role:
    STAFF = "staff"
    SUPERVISOR = "supervisor"
    ALL = (STAFF, SUPERVISOR)


def new_session_nonce() -> str:
    return secrets.token_hex(8)


class StaffUser(Base):
    __tablename__ = "staff_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default=Role.STAFF)
    created_at = Column(UTCDateTime(), nullable=False, default=utcnow)
    last_login_at = Column(UTCDateTime())
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(UTCDateTime())
    # Part of the login cookie: rotating it (logout, password change, disable) ends every session.
    session_nonce = Column(String(32), nullable=False, default=new_session_nonce)
    disabled_at = Column(UTCDateTime())


@lru_cache(maxsize=8)
def _ensure(url: str) -> None:
    engine: Engine = get_engine(url)
    Base.metadata.create_all(engine, tables=[StaffUser.__table__])


def ensure_tables(url: str | None = None) -> None:
    """bot.store.db creates bot.store.models' tables; this adds staff_users to the same database."""
    from bot.store.db import database_url

    _ensure(url or database_url())
