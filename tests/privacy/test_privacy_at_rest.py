"""Encryption at rest on PostgreSQL, and no message text, phone or raw id in the logs."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from bot.security import crypto
from bot.store.db import session_scope
from bot.store.tickets import TicketDraft, book_callback, get_ticket, record_consent

PG_ADMIN = "postgresql+psycopg2://root@127.0.0.1:5432/test"


@pytest.fixture()
def pg_db(monkeypatch, tmp_path):
    try:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", future=True)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # the machine's PostgreSQL must be up (scripts/services.sh)
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required for this test: {exc}")
    name = f"madoguchi_privacy_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    url = f"postgresql+psycopg2://root@127.0.0.1:5432/{name}"
    monkeypatch.setenv("MADOGUCHI_DB_URL", url)
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    yield url
    crypto.reset_keys()
    from bot.store.db import get_engine

    get_engine(url).dispose()
    with admin.connect() as conn:
        conn.execute(text(f'drop database if exists "{name}" with (force)'))


@pytest.mark.postgres
def test_postgres_rows_hold_no_plaintext_phone_nickname_or_story(pg_db):
    with session_scope() as s:
        record_consent(s, "line-abc", "callback_summary", True)
    draft = TicketDraft(
        sender_id="line-abc",
        channel="line",
        conversation_key="k",
        contact_method="phone",
        consent_at=datetime.now(timezone.utc),
        phone="+819087654321",
        nickname="はなこ",
        situation="息子が部屋から出てきません",
    )
    ticket, _ = book_callback(draft)
    assert get_ticket(ticket.id).phone == "+819087654321"
    engine = create_engine(pg_db, future=True)
    with engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.execute(text("select * from callback_tickets")))
    engine.dispose()
    for plain in ("87654321", "はなこ", "部屋から出てきません"):
        assert plain not in dump


@pytest.mark.stack
def test_logs_hold_no_message_text_phone_or_raw_id(stack, fake_api):
    """After whole conversations (REST and LINE), the stack's logs mention none of what people wrote."""
    from tests.integration.test_channels_stack import line_event, post, sign, wait_for

    sender = f"log-{uuid.uuid4().hex[:8]}"
    secret_story = "ひみつの話です息子が七年ひきこもり"
    stack.say(sender, "母です")
    stack.say(sender, secret_story)
    stack.say(sender, "折り返しをお願いします")
    stack.say(sender, "はい")
    stack.say(sender, "０９０ー５５５５ー１２１２")
    line_user = "U" + uuid.uuid4().hex
    body = line_event(line_user, "ラインの秘密のメッセージ")
    before = len(fake_api.api.calls)
    assert post(f"{stack.rasa_url}/webhooks/line/webhook", body, {"X-Line-Signature": sign(body)}) == 200
    wait_for(lambda: len(fake_api.api.calls) > before)
    logs = "".join(
        (stack.workdir / name).read_text(encoding="utf-8", errors="replace") for name in ("rasa.log", "actions.log")
    )
    for leaked in ("ひみつの話", "5555", "1212", line_user, "ラインの秘密", sender):
        assert leaked not in logs, leaked
    assert not re.search(r"0\d{1,4}-\d{1,4}-\d{4}", logs)
