"""Logs cannot be joined to stored data (issue 21, Low): no bound parameters from the database
engines, no prefix of a stored pseudonym in a log line."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from bot.security import crypto
from bot.security.pseudonym import log_ref, pseudonymize_with
from bot.services import outbox
from bot.store.db import make_engine
from bot.store.tickets import TicketDraft
from channels.common import short_id

ROOT = Path(__file__).resolve().parents[2]
#: Rasa's tracker store engine is made by Rasa (bot/rasa_plugins/tracker_store.py subclasses its SQLTrackerStore).
PROJECT = ("bot", "actions", "channels", "staff", "deploy", "tools", "scripts")
SECRET = "+819012345678"
PERSON = pseudonymize_with(b"k" * 32, "line", "U4af4980629")


def test_a_failing_statement_shows_no_bound_value(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        assert engine.hide_parameters
        caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
        engine.echo = True  # even with the engine's own log on
        with pytest.raises(sa.exc.OperationalError) as raised:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO no_such_table (phone) VALUES (:p)"), {"p": SECRET})
        assert "no_such_table" in str(raised.value)
        assert SECRET not in str(raised.value) and "hidden due to hide_parameters" in str(raised.value)
        assert caplog.records and SECRET not in caplog.text
    finally:
        engine.dispose()


def _create_engine_calls(path: Path) -> list[ast.Call]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) or getattr(node.func, "attr", None))
        in ("create_engine", "create_async_engine")
    ]


def test_every_engine_the_project_creates_hides_parameters() -> None:
    calls = 0
    for package in PROJECT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            for call in _create_engine_calls(path):
                calls += 1
                hidden = [k for k in call.keywords if k.arg == "hide_parameters"]
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                assert hidden, f"{where}: create_engine without hide_parameters=True"
                assert isinstance(hidden[0].value, ast.Constant) and hidden[0].value.value is True, where
    assert calls >= 4  # bot.store.db (SQLite, PostgreSQL), deploy.init_db (2), bot.services.key_rotation


def test_a_log_reference_is_no_prefix_of_the_pseudonym() -> None:
    digest = PERSON.partition("-")[2]
    for ref in (log_ref(PERSON), short_id(PERSON)):
        token = ref.partition("-")[2]
        assert ref.startswith("line-") and len(token) == 8
        assert token not in digest  # no 32-bit (or any) piece of the stored pseudonym
    assert log_ref(PERSON) == short_id(PERSON)  # one person's lines can still be followed in a process
    assert log_ref(pseudonymize_with(b"k" * 32, "line", "U0000000001")) != log_ref(PERSON)
    assert log_ref(None) == "-" and log_ref("") == "-"


def test_the_outbox_log_line_does_not_carry_the_pseudonym(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import datetime, timezone

    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    try:
        draft = TicketDraft(
            sender_id=PERSON, channel="line", conversation_key="m1|1", contact_method="chat",
            consent_at=datetime.now(timezone.utc),
        )  # fmt: skip
        caplog.set_level(logging.WARNING, logger="bot.services.outbox")
        outbox.spool(draft)
        [line] = [r.getMessage() for r in caplog.records if "spooled" in r.getMessage()]
        assert log_ref(PERSON) in line
        digest = PERSON.partition("-")[2]
        assert digest[:7] not in line and digest[:8] not in line
    finally:
        crypto.reset_keys()
