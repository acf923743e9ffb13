"""The ticket database is unavailable at the moment a person confirms a callback: they are told
it is being saved (never 「受け付けました」) with the 24-hour lines, the draft waits in the
durable outbox, and once the database is back the ticket is stored exactly once and its number
reaches the person (REST: with their next message; LINE: pushed). A failing staff-notice API
does not cost the ticket, and the notice goes out once the API recovers."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, List

import pytest

from bot.domain import postback
from bot.security import crypto
from tests.reliability.helpers import (
    STAFF_CHAT,
    TELEGRAM_TOKEN,
    YORISOI,
    ExclusiveLock,
    PgDatabase,
    ReliabilityStack,
    book_over_rest,
    line_event,
    line_texts,
    line_user,
    post_line,
    pushes_to,
    replies_for,
    texts,
    wait_for,
)

pytestmark = pytest.mark.stack

SAVING = "保存に時間がかかっています"
BOOKED = "受け付けました"


def outbox_rows(stack: ReliabilityStack, table: str) -> List[Any]:
    path = stack.workdir / "outbox" / "tickets.sqlite3"
    if not path.exists():
        return []
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute(f"select * from {table}").fetchall()  # test table names
    finally:
        con.close()


def test_locked_sqlite_at_confirmation_tells_the_truth_then_stores_once_and_gives_the_number(
    rstack: ReliabilityStack,
) -> None:
    sender = f"rel-{uuid.uuid4().hex[:10]}"
    sender_id = rstack.sender("rest", sender)
    assert "この内容で申し込みます" in texts(book_over_rest(rstack, sender))
    callbacks_counted = callback_stats(rstack)
    with ExclusiveLock(rstack.db_path):  # another process holds the write lock
        reply = rstack.say(sender, "はい", timeout=120)
        said = texts(reply)
        assert SAVING in said and YORISOI in said, said
        assert BOOKED not in said and not any(
            isinstance(m.get("custom"), dict) and "ticket" in m["custom"] for m in reply
        )
        assert len(outbox_rows(rstack, "spool")) == 1
        time.sleep(2)  # the outbox keeps retrying meanwhile, and keeps failing
    [ticket] = wait_for(lambda: rstack.tickets(sender_id), 60, what="the spooled ticket in the database")
    wait_for(
        lambda: not outbox_rows(rstack, "spool") and not outbox_rows(rstack, "announcements"),
        60,
        what="the outbox to be empty",
    )
    assert rstack.decrypt(ticket[3]) == "+819012345678" and ticket[4] == "2026-11-30_am"
    time.sleep(2)
    assert len(rstack.tickets(sender_id)) == 1  # exactly once, retries notwithstanding
    # REST cannot push: the number comes first in the answer to the person's next message.
    said = texts(rstack.say(sender, "ありがとうございます"))
    assert said.startswith(f"{BOOKED}。受付番号は #{ticket[0]} です"), said
    assert f"#{ticket[0]}" not in texts(rstack.say(sender, "こんにちは"))  # said once
    assert callback_stats(rstack) == callbacks_counted + 1  # and counted once in the statistics


def callback_stats(stack: ReliabilityStack) -> int:
    con = sqlite3.connect(stack.db_path, timeout=30)
    try:
        return con.execute("select count(*) from stat_events where kind = 'callback'").fetchone()[0]
    except sqlite3.OperationalError:  # no statistics table (yet)
        return 0
    finally:
        con.close()


def line_turn_postback(stack: ReliabilityStack, user: str, payload: str) -> str:
    event = line_event(user, etype="postback", postback=postback.encode(payload))
    assert post_line(stack.rasa_url, event)[0] == 200
    calls = wait_for(lambda: replies_for(stack.fake, event["replyToken"]), 90, what=f"reply to {payload}")
    return line_texts(calls[-1].json["messages"])


@pytest.mark.postgres
def test_postgresql_down_at_confirmation_over_line_then_the_number_is_pushed(rstack: ReliabilityStack) -> None:
    pg = PgDatabase()
    sqlite_url = rstack.env["MADOGUCHI_DB_URL"]
    rstack.restart_actions(MADOGUCHI_DB_URL=pg.url)
    try:
        user = line_user()
        sender_id = rstack.sender("line", user)
        rstack.line(user, "電話で相談したいです")
        assert "ご連絡の方法" in rstack.line(user, "はい")
        assert "お電話番号" in rstack.line(user, "電話で")
        assert "希望日時" in rstack.line(user, "090 1234 5678")
        line_turn_postback(rstack, user, '/choose_slot{"preferred_slot":"2026-12-01_am"}')
        assert "この内容で申し込みます" in line_turn_postback(rstack, user, "/skip")
        pg.down()  # no new connections, every backend terminated
        said = rstack.line(user, "はい")
        assert SAVING in said and BOOKED not in said and YORISOI in said, said
        time.sleep(2)
        assert not any(BOOKED in line_texts(c.json["messages"]) for c in pushes_to(rstack.fake, user))
        pg.up()
        pushed = wait_for(
            lambda: [c for c in pushes_to(rstack.fake, user) if BOOKED in line_texts(c.json["messages"])],
            60,
            what="the ticket number pushed over LINE",
        )
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=pg.name)
        with con, con.cursor() as cur:
            cur.execute("select id, preferred_slot from callback_tickets where sender_id = %s", (sender_id,))
            rows = cur.fetchall()
        con.close()
        assert len(rows) == 1 and rows[0][1] == "2026-12-01_am"
        assert f"#{rows[0][0]}" in line_texts(pushed[0].json["messages"])
    finally:
        rstack.restart_actions(MADOGUCHI_DB_URL=sqlite_url)
        pg.drop()


def test_staff_notice_fails_then_goes_out_once_the_api_recovers_and_the_ticket_is_kept(
    rstack: ReliabilityStack, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    notify = pytest.importorskip(
        "bot.services.notify", reason="bot/services/notify.py (staff notifications) is not there yet"
    )
    rstack.fake.script("/sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, times=1)
    sender = f"rel-{uuid.uuid4().hex[:10]}"
    book_over_rest(rstack, sender)
    reply = rstack.say(sender, "はい")
    assert BOOKED in texts(reply)
    [ticket] = rstack.tickets(rstack.sender("rest", sender))

    def notice_rows() -> List[Any]:
        con = sqlite3.connect(rstack.db_path, timeout=30)
        try:
            rows = con.execute("select id, attempts, sent_at, last_error, payload from notification_outbox").fetchall()
        finally:
            con.close()
        # The payload is sealed at rest (issue 21, M-2): opened with the stack's own keys.
        return [
            r[:4] for r in rows if json.loads(rstack.decrypt(json.loads(r[4])) or "{}").get("ticket_id") == ticket[0]
        ]

    [row] = wait_for(lambda: [r for r in notice_rows() if r[1] >= 1 and r[3]], 30, what="the failed first attempt")
    assert row[2] is None  # not sent, kept for retry
    # The staff app's outbox worker runs its next round (after the backoff).
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{rstack.db_path}")
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(rstack.workdir))
    monkeypatch.setenv("STAFF_TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
    monkeypatch.setenv("STAFF_TELEGRAM_CHAT_ID", STAFF_CHAT)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", rstack.fake.base_url)
    # The outbox's payload is sealed (issue 21, M-2): the worker holds the stack's key.
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", rstack.fernet_key)
    crypto.reset_keys()
    request.addfinalizer(crypto.reset_keys)  # the next test reads its own keys
    assert notify.deliver_pending(now=datetime.now(timezone.utc) + timedelta(minutes=5)) >= 1
    [row] = notice_rows()
    assert row[2] is not None and row[1] == 2
    sent = [
        c
        for c in rstack.fake.calls_to("/sendMessage")
        if str(c.params.get("chat_id")) == STAFF_CHAT and f"#{ticket[0]}（" in str(c.params.get("text"))
    ]
    assert len(sent) == 2 and f"#{ticket[0]}" in str(sent[-1].params.get("text"))
    assert notify.deliver_pending(now=datetime.now(timezone.utc) + timedelta(hours=2)) == 0  # sent once
    assert len(rstack.tickets(rstack.sender("rest", sender))) == 1
