"""Issue 21, M-9: the audit log records address, session, refusals, purges and command-line
account changes; a leaver can be disabled; the log is append-only (hash chain everywhere, and a
trigger on PostgreSQL)."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from bot.services import audit_check
from bot.services.purge import run_once
from bot.store import audit
from bot.store.db import get_engine, session_scope
from bot.store.models import AuditEntry
from staff import users
from tests.staff.helpers import book, login

PG_ADMIN = "postgresql+psycopg2://root@127.0.0.1:5432/test"


def _rows(**where: Any) -> list[AuditEntry]:
    with session_scope() as s:
        q = sa.select(AuditEntry).order_by(AuditEntry.id)
        for name, value in where.items():
            q = q.where(getattr(AuditEntry, name) == value)
        return list(s.execute(q).scalars())


def _client(app: Flask, address: str) -> FlaskClient:
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = address
    return c


def test_each_row_has_the_client_address_and_the_login_session(app: Flask, accounts: dict[str, str]) -> None:
    ticket = book()
    first, second = _client(app, "10.0.0.7"), _client(app, "10.0.0.8")
    for c in (first, second):
        assert login(c, "sato").status_code == 302
        assert c.get(f"/tickets/{ticket.id}").status_code == 200
    logins, views = _rows(action="login"), _rows(action="view")
    assert [(r.client, r.actor) for r in logins] == [("10.0.0.7", "sato"), ("10.0.0.8", "sato")]
    assert [r.client for r in views] == ["10.0.0.7", "10.0.0.8"]
    # One session id per login, the same on each of its rows; two logins, two ids.
    assert logins[0].session_ref and logins[0].session_ref == views[0].session_ref
    assert logins[1].session_ref == views[1].session_ref != views[0].session_ref


def test_refusals_are_recorded(app: Flask, accounts: dict[str, str]) -> None:
    c = _client(app, "10.0.0.9")
    assert login(c, "sato", "wrong password!!").status_code == 401
    assert login(c, "sato").status_code == 302
    assert c.get("/audit").status_code == 403  # staff, not a supervisor
    failed = _rows(action="login_failed")[-1]
    refused = _rows(action="refused")[-1]
    assert (failed.actor, failed.client) == ("sato", "10.0.0.9")
    assert (refused.actor, refused.client, refused.detail) == ("sato", "10.0.0.9", "GET /audit")


def test_the_purge_is_recorded(app: Flask) -> None:
    run_once()
    row = _rows(action="purge")[-1]
    assert row.actor == "purge" and "tickets=0 open_past_retention=0" in row.detail


def test_disabling_a_leaver_ends_the_session_refuses_login_and_is_audited(
    app: Flask, accounts: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    c = _client(app, "10.0.0.7")
    assert login(c, "sato").status_code == 302 and c.get("/").status_code == 200
    assert users.main(["disable", "--username", "sato"]) == 0
    assert "disabled sato" in capsys.readouterr().out
    assert c.get("/").status_code == 302  # the open session ended
    assert login(c, "sato").status_code == 401
    change = _rows(action="account_disable")[-1]
    assert change.actor.startswith("cli:") and change.client == "cli" and change.detail == "user=sato"
    assert _rows(action="login_failed")[-1].detail == "disabled"
    assert users.main(["unlock", "--username", "tanaka"]) == 0
    assert _rows(action="account_unlock")[-1].actor.startswith("cli:")


def test_the_verifier_finds_a_changed_or_deleted_row(
    app: Flask, staff_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with session_scope() as s:
        for n in range(5):
            audit.record(s, "sato", "view", n + 1)
    assert audit_check.main(["verify"]) == 0 and "audit log intact: 5 rows" in capsys.readouterr().out
    ids = [r.id for r in _rows()]
    db = sqlite3.connect(staff_env / "madoguchi.db")
    db.execute("UPDATE audit_log SET actor = 'suzuki' WHERE id = ?", (ids[2],))
    db.commit()
    assert audit_check.main(["verify"]) == 1
    assert f"BROKEN at row id {ids[2]}" in capsys.readouterr().out
    db.execute("UPDATE audit_log SET actor = 'sato' WHERE id = ?", (ids[2],))  # put back ...
    db.execute("DELETE FROM audit_log WHERE id = ?", (ids[1],))  # ... and remove one instead
    db.commit()
    db.close()
    assert audit_check.verify().broken_at == ids[2]


@pytest.fixture
def pg_url(monkeypatch: pytest.MonkeyPatch) -> Any:
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", future=True)
    name = f"madoguchi_audit_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))
    url = f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"
    monkeypatch.setenv("MADOGUCHI_DB_URL", url)
    yield url
    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))


@pytest.mark.postgres
def test_postgresql_refuses_to_change_or_delete_audit_rows(pg_url: str) -> None:
    with session_scope() as s:
        for n in range(3):
            audit.record(s, "sato", "view", n + 1)
    engine = sa.create_engine(pg_url, future=True)  # a connection of its own, as a DBA would use
    for statement in ("UPDATE audit_log SET actor = 'suzuki'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(sa.text(statement))
    engine.dispose()
    assert audit_check.verify().ok and audit_check.verify().rows == 3
