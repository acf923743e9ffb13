"""Tickets: consent first, idempotent booking, encryption at rest, key rotation, erasure, purge."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.fernet import Fernet

from bot.domain.phone import mask_phone, normalize_phone
from bot.security import crypto
from bot.services import key_rotation
from bot.services.erasure import erase_sender, purge
from bot.store.db import session_scope
from bot.store.models import CallbackTicket, ConsentRecord
from bot.store.tickets import ConsentRequired, TicketDraft, book_callback, get_ticket, record_consent


@pytest.fixture()
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    monkeypatch.setenv("MADOGUCHI_DB_URL", url)
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MADOGUCHI_TRACKER_DB_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    crypto.reset_keys()
    yield tmp_path / "m.db"
    crypto.reset_keys()


def draft(sender="rest-a", key="k1", **kw) -> TicketDraft:
    base = dict(
        sender_id=sender,
        channel="rest",
        conversation_key=key,
        contact_method="phone",
        consent_at=datetime.now(timezone.utc),
        phone="+819012345678",
        nickname="ゆう",
        situation="部屋から出られない",
        needs=("ibasho",),
    )
    base.update(kw)
    return TicketDraft(**base)


def consent(sender="rest-a", agreed=True):
    with session_scope() as s:
        record_consent(s, sender, "callback_summary", agreed)


def test_no_ticket_without_consent(db):
    with pytest.raises(ConsentRequired):
        book_callback(draft())
    consent(agreed=False)
    with pytest.raises(ConsentRequired):
        book_callback(draft())


def test_booking_is_idempotent_and_encrypted_at_rest(db):
    consent()
    first, created = book_callback(draft())
    again, created_again = book_callback(draft())
    assert created and not created_again and first.id == again.id
    assert get_ticket(first.id).phone == "+819012345678"
    raw = db.read_bytes()
    for plain in ("9012345678".encode(), "ゆう".encode(), "部屋から出られない".encode()):
        assert plain not in raw
    wal = db.with_name(db.name + "-wal")
    if wal.exists():
        assert b"9012345678" not in wal.read_bytes()


def test_key_rotation_keeps_old_tickets_readable(db, monkeypatch):
    consent()
    t, _ = book_callback(draft())
    old = crypto._fernet()._fernets[0]
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", f"{new_key},{__import__('os').environ['MADOGUCHI_FERNET_KEYS']}")
    crypto.reset_keys()
    assert get_ticket(t.id).phone == "+819012345678"  # old key still decrypts
    assert key_rotation.rotate_stored() >= 3
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", new_key)
    crypto.reset_keys()
    assert get_ticket(t.id).nickname == "ゆう"
    assert old  # the previous key existed


def test_erasure_unlinks_and_blanks_personal_fields(db):
    consent()
    t, _ = book_callback(draft())
    result = erase_sender("rest-a")
    assert result.tickets == 1
    view = get_ticket(t.id)
    assert view.phone is None and view.nickname is None and view.situation is None and view.sender_id is None
    with session_scope() as s:
        assert s.query(ConsentRecord).filter_by(sender_id="rest-a").count() == 0


def test_purge_deletes_only_expired_closed_tickets_and_keeps_open_ones(db):
    consent()
    old, _ = book_callback(draft(key="old"))
    old_open, _ = book_callback(draft(key="old-open"))
    new, _ = book_callback(draft(key="new"))
    with session_scope() as s:
        for ticket_id in (old.id, old_open.id):
            s.get(CallbackTicket, ticket_id).created_at = datetime.now(timezone.utc) - timedelta(days=200)
        s.get(CallbackTicket, old.id).status = "closed"
    tracker = sqlite3.connect(str(db.with_name("tracker.db")))
    tracker.execute("create table events (id integer primary key, sender_id text, timestamp real)")
    now = datetime.now(timezone.utc).timestamp()
    tracker.executemany(
        "insert into events (sender_id, timestamp) values (?, ?)",
        [("a", now - 40 * 86400), ("a", now - 86400), ("b", now)],
    )
    tracker.commit()
    result = purge(ticket_days=180, event_days=30)
    assert result.tickets == 1 and result.tracker_events == 1 and result.open_past_retention == 1
    assert get_ticket(old.id) is None and get_ticket(new.id) is not None and get_ticket(old_open.id) is not None
    assert tracker.execute("select count(*) from events").fetchone()[0] == 2


@pytest.mark.parametrize(
    "raw,e164",
    [
        ("０９０ー１２３４ー５６７８", "+819012345678"),
        ("090-1234-5678", "+819012345678"),
        ("09012345678", "+819012345678"),
        ("+81 90 1234 5678", "+819012345678"),
        ("090 1234 5678", "+819012345678"),
        ("090-1234-567", None),
        ("0120-000", None),
        ("12345", None),
        ("電話は持っていません", None),
    ],
)
def test_phone_numbers_in_odd_formats(raw, e164):
    assert normalize_phone(raw) == e164


def test_masked_phone_shows_only_the_last_digits():
    assert mask_phone("+819012345678").endswith("5678") and "1234" not in mask_phone("+819012345678")
