"""The staff notification outbox: durable rows, backoff, exactly one send, no personal data."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import select

from bot.domain.schedule import JST
from bot.services import notify
from bot.services.notify import NotificationOutbox, deliver_pending, enqueue_new_ticket, notify_new_ticket
from bot.store.db import session_scope
from tests.channels.fake_api import TELEGRAM_TOKEN, FakeApi
from tests.staff.helpers import ThreadedFakeApi, book

GROUP = "-1001234567890"
ONCALL = "987654321"
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def pinned_at_t0(clock) -> None:
    """The whole flow (enqueue stamps, deliveries, backoff) runs on one clock pinned at T0."""
    clock.pin(T0)


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    with ThreadedFakeApi() as api:
        monkeypatch.setenv("STAFF_TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN)
        monkeypatch.setenv("STAFF_TELEGRAM_CHAT_ID", GROUP)
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.base_url)
        yield api


def rows() -> list[NotificationOutbox]:
    with session_scope() as s:
        return list(s.execute(select(NotificationOutbox).order_by(NotificationOutbox.id)).scalars())


def sends(api: FakeApi) -> list[dict[str, Any]]:
    return [c.params for c in api.calls_to("/sendMessage")]


def test_notice_text_has_number_priority_slot_and_link_only():
    ticket = book(
        contact_method="phone",
        phone="090-1234-5678",
        nickname="はなこ",
        situation="息子が部屋から出ない",
        relation="family",
        relation_detail="母",
        priority="urgent",
        preferred_slot="2026-11-30_am",
        preferred_at=datetime(2026, 11, 30, 9, tzinfo=JST),
        windows=("chanks",),
    )
    [row_id] = enqueue_new_ticket(ticket.id, "urgent", "11/30(月) 午前", False)
    text = rows()[0].payload["text"]
    assert text.splitlines() == [
        f"新しい折り返し依頼 #{ticket.id}（優先度: 高）",
        "希望: 11/30(月) 午前",
        f"http://127.0.0.1:8000/tickets/{ticket.id}",
    ]
    for personal in ("090", "5678", "はなこ", "息子", "母", ticket.sender_id or "-", "ちゃんくす"):
        assert personal not in repr(rows()[0].payload)


def test_notify_new_ticket_text_from_a_ticket_view(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_PUBLIC_URL", "https://staff.example.jp/")
    monkeypatch.setattr(threading.Thread, "start", lambda self: None)  # no delivery attempt here
    ticket = book(
        contact_method="phone",
        phone="090-1234-5678",
        nickname="はなこ",
        situation="死にたいと言う",
        preferred_slot="2026-12-01_pm",
        preferred_at=datetime(2026, 12, 1, 13, tzinfo=JST),
    )
    notify_new_ticket(ticket)
    payload = rows()[0].payload
    assert payload["text"] == (
        f"新しい折り返し依頼 #{ticket.id}（優先度: 通常）\n希望: 12/1(火) 午後\n"
        f"https://staff.example.jp/tickets/{ticket.id}"
    )
    assert "5678" not in repr(payload) and "はなこ" not in repr(payload) and "死にたい" not in repr(payload)


def test_failing_telegram_leaves_the_row_pending_with_backoff_then_sends_once(telegram: FakeApi):
    telegram.script("/sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    enqueue_new_ticket(7, "normal", None, False)
    assert deliver_pending(now=T0) == 0
    [row] = rows()
    assert row.sent_at is None and row.attempts == 1
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    assert row.last_error and TELEGRAM_TOKEN not in row.last_error and "#7" not in row.last_error
    assert len(sends(telegram)) == 1
    # Not due yet: nothing is attempted.
    assert deliver_pending(now=T0 + timedelta(seconds=10)) == 0
    assert len(sends(telegram)) == 1
    # Due: sent once.
    assert deliver_pending(now=T0 + timedelta(seconds=31)) == 1
    [row] = rows()
    assert row.sent_at is not None and row.attempts == 2 and row.last_error is None
    assert [int(p["chat_id"]) for p in sends(telegram)] == [int(GROUP), int(GROUP)]
    assert sends(telegram)[-1]["text"].startswith("新しい折り返し依頼 #7（優先度: 通常）")
    # Never again.
    assert deliver_pending(now=T0 + timedelta(hours=2)) == 0
    assert len(sends(telegram)) == 2


def test_backoff_grows_and_is_capped(telegram: FakeApi):
    telegram.script("/sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal"}, times=20)
    enqueue_new_ticket(8, "normal", None, False)
    moment = T0
    delays = []
    for _ in range(9):
        deliver_pending(now=moment)
        [row] = rows()
        nxt = row.next_attempt_at.replace(tzinfo=timezone.utc)
        delays.append((nxt - moment).total_seconds())
        moment = nxt
    assert delays[:4] == [30, 60, 120, 240]
    assert max(delays) == 3600
    [row] = rows()
    assert row.sent_at is None and row.attempts == 9  # the row is never dropped


def test_rate_limit_waits_as_long_as_telegram_asks(telegram: FakeApi):
    telegram.telegram_rate_limited("sendMessage", retry_after=300)
    enqueue_new_ticket(9, "normal", None, False)
    deliver_pending(now=T0)
    [row] = rows()
    assert row.next_attempt_at == T0 + timedelta(seconds=300)


def test_two_workers_never_send_the_same_row_twice(telegram: FakeApi):
    telegram.script(
        "/sendMessage",
        200,
        {"ok": True, "result": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "group"}}},
        delay=0.5,
    )
    enqueue_new_ticket(10, "normal", None, False)
    results: list[int] = []
    workers = [threading.Thread(target=lambda: results.append(deliver_pending())) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(20)
    assert sorted(results) == [0, 0, 1]
    assert len(sends(telegram)) == 1


def test_unconfigured_telegram_keeps_the_row_waiting():
    enqueue_new_ticket(11, "normal", None, False)
    assert deliver_pending(now=T0) == 0
    [row] = rows()
    assert row.channel == "telegram" and row.sent_at is None and "NotConfigured" in row.last_error


def test_urgent_out_of_hours_also_alerts_on_call(telegram: FakeApi, monkeypatch):
    monkeypatch.setenv("STAFF_ONCALL_TELEGRAM_CHAT_ID", ONCALL)
    enqueue_new_ticket(12, "urgent", None, True)
    assert [r.channel for r in rows()] == ["telegram", "oncall_telegram"]
    assert deliver_pending() == 2
    assert sorted(int(p["chat_id"]) for p in sends(telegram)) == sorted([int(GROUP), int(ONCALL)])
    assert all(p["text"].startswith("【時間外・緊急】") for p in sends(telegram))


def test_urgent_in_hours_does_not_page_on_call(telegram: FakeApi, monkeypatch):
    monkeypatch.setenv("STAFF_ONCALL_TELEGRAM_CHAT_ID", ONCALL)
    enqueue_new_ticket(13, "urgent", None, False)
    assert [r.channel for r in rows()] == ["telegram"]


def test_notify_new_ticket_decides_out_of_hours(telegram: FakeApi, monkeypatch, clock):
    monkeypatch.setenv("STAFF_ONCALL_TELEGRAM_CHAT_ID", ONCALL)
    clock.pin(datetime(2026, 11, 28, 23, 30, tzinfo=JST))  # Saturday night
    ticket = book(priority="urgent")
    notify_new_ticket(ticket)
    deadline = time.monotonic() + 10
    while len(sends(telegram)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sends(telegram)) == 2  # the immediate attempt, on a background thread
    # The thread marks the rows sent after the API answers: wait for that, not a fixed pause
    # (0.2 s was too short on a loaded machine).
    while not all(r.sent_at is not None for r in rows()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(r.sent_at is not None for r in rows())


def test_notify_new_ticket_never_raises(monkeypatch, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="bot.services.notify")
    ticket = book()
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    notify_new_ticket(ticket)  # database unreachable: logged, not raised
    assert caplog.records and all(ticket.sender_id not in r.getMessage() for r in caplog.records)


class FakeSMTP:
    sent: list[Any] = []
    logins: list[tuple[str, str]] = []
    tls = False

    def __init__(self, host: str, port: int, timeout: float = 0) -> None:
        self.host, self.port = host, port

    def __enter__(self) -> "FakeSMTP":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def ehlo(self) -> None:
        pass

    def has_extn(self, name: str) -> bool:
        return name == "starttls"

    def starttls(self, context: Any = None) -> None:
        FakeSMTP.tls = True

    def login(self, user: str, password: str) -> None:
        assert FakeSMTP.tls, "login before STARTTLS"
        FakeSMTP.logins.append((user, password))

    def send_message(self, msg: Any) -> None:
        FakeSMTP.sent.append(msg)


def test_email_notification(monkeypatch):
    FakeSMTP.sent, FakeSMTP.logins, FakeSMTP.tls = [], [], False
    monkeypatch.setattr(notify.smtplib, "SMTP", FakeSMTP)
    monkeypatch.setenv("STAFF_SMTP_URL", "smtp://notify%40city:p%40ss@127.0.0.1:2525")
    monkeypatch.setenv("STAFF_NOTIFY_EMAIL", "team@example.jp, lead@example.jp")
    enqueue_new_ticket(14, "normal", "12/01(火) 午後", False)
    assert [r.channel for r in rows()] == ["email"]  # e-mail only: no Telegram row waiting forever
    assert deliver_pending() == 1
    [msg] = FakeSMTP.sent
    assert msg["Subject"] == "[まどぐち] 新しい折り返し依頼 #14"
    assert msg["To"] == "team@example.jp, lead@example.jp"
    assert "希望: 12/01(火) 午後" in msg.get_content()
    assert FakeSMTP.logins == [("notify@city", "p@ss")]


def test_oncall_contact_from_the_directory(monkeypatch):
    from bot.domain import directory as directory_mod

    real = directory_mod.get_directory()
    for contact, expected in (
        ("telegram:-100555", ("telegram", "-100555")),
        ("oncall@example.jp", ("email", "oncall@example.jp")),
        ("mailto:x@example.jp", ("email", "x@example.jp")),
        ("12345678", ("telegram", "12345678")),
        ("0848-00-0000 (携帯)", None),
    ):
        service = real.service.__class__(**{**real.service.__dict__, "on_call_contact": contact})
        fake_dir = real.__class__(**{**real.__dict__, "service": service})
        monkeypatch.setattr(directory_mod, "get_directory", lambda d=fake_dir: d)
        assert notify.oncall_target() == expected, contact


def test_worker_thread_delivers(telegram: FakeApi):
    enqueue_new_ticket(15, "normal", None, False)
    worker = notify.OutboxWorker(interval=0.1)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while not sends(telegram) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        worker.join(5)
    assert len(sends(telegram)) == 1 and not worker.is_alive()
