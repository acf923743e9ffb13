"""Need-to-know (issue 21, M-8): a ticket's details go to its assignee and supervisors only, and a
supervisor reads only the conversation the ticket was booked in.

Other staff see that a ticket is there and what they need to pick it up (number, received, priority,
status, wished slot, channel), and can claim a new one; every view stays audited.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.domain.schedule import JST
from bot.store.db import session_scope
from bot.store.models import AuditEntry
from staff.accounts import load_identity
from staff.csvout import to_csv
from staff.exporting import ExportRequest, header, rows
from staff.models import StaffUser
from tests.staff.helpers import FakeRasa, book, claim, iter_csv, login, post

PINNED = "2026-11-30T10:00:00+09:00"  # Monday 10:00 JST
SITUATION = "息子が二十年近く部屋から出てきません"
#: What the summary shows of the ticket below, each of which other staff must not see.
DETAILS = (
    SITUATION,
    "はなこ",  # the nickname
    "ご家族（叔母）",  # relation and its free text
    "40〜49歳",
    "居場所",  # a need
    "ちゃんくす（市の委託事業含む）",  # a recommended window
    "5678",  # the phone number
)
HIDDEN = "担当者と監督者にだけ表示"
#: The export's columns that are details (staff_texts.yml export_columns), with phones included.
DETAIL_COLUMNS = (
    "相談者",
    "続柄など",
    "年齢帯",
    "状況",
    "希望",
    "案内した窓口",
    "連絡方法",
    "ニックネーム",
    "電話番号",
)


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADOGUCHI_NOW", PINNED)


def _book_detailed(**fields):
    values = dict(
        channel="line",
        priority="urgent",
        contact_method="phone",
        phone="090-1234-5678",
        relation="family",
        relation_detail="叔母",
        age_min=45,
        age_max=45,
        age_band="40〜49歳",
        situation=SITUATION,
        needs=("ibasho",),
        windows=("chanks",),
        nickname="はなこ",
        preferred_slot="2026-11-30_pm",
        preferred_at=datetime(2026, 11, 30, 13, tzinfo=JST),
    )
    values.update(fields)
    return book(**values)


def _row(html: str, ticket_id: int) -> str:
    m = re.search(rf'<tr[^>]*data-ticket="{ticket_id}".*?</tr>', html, re.S)
    assert m, f"ticket #{ticket_id} is not in the inbox"
    return m.group(0)


def _views(ticket_id: int) -> list[tuple[str, str, str]]:
    """(who, view or view_conversation, detail) of each audited view of the ticket."""
    with session_scope() as s:
        q = (
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail)
            .where(AuditEntry.ticket_id == ticket_id, AuditEntry.action.in_(("view", "view_conversation")))
            .order_by(AuditEntry.id)
        )
        return [(a, b, d or "") for a, b, d in s.execute(q)]


def _other(app):
    other = app.test_client()
    assert login(other, "tanaka").status_code == 302
    return other


# --- the inbox and the ticket page ----------------------------------------------------------------
def test_other_staff_see_a_ticket_only_to_pick_it_up(app, staff, supervisor, accounts, pinned):
    t = _book_detailed()
    page = f"/tickets/{t.id}"

    # Unassigned: staff see that it is there, urgent, new, when it was wished and where from.
    row = _row(staff.get("/").text, t.id)
    for shown in (f"#{t.id}", "緊急", "新規", "11/30(月) 午後", "LINE", "未担当", HIDDEN):
        assert shown in row, shown
    for detail in (*DETAILS, "ご家族", "電話"):
        assert detail not in row, detail
    html = staff.get(page).text
    assert "11/30(月) 午後" in html and "緊急" in html and 'id="claim"' in html
    assert HIDDEN in html and "「自分が担当する」を押すと表示されます" in html
    for detail in DETAILS:
        assert detail not in html, detail
    assert 'id="outcome_window"' not in html and 'id="notes-h"' not in html  # no outcome, no notes

    # A supervisor sees the whole ticket (but the number in the inbox, as before).
    sv_row = _row(supervisor.get("/").text, t.id)
    assert "ご家族（叔母）" in sv_row and "40〜49歳" in sv_row and "居場所" in sv_row and HIDDEN not in sv_row
    sv_html = supervisor.get(page).text
    for detail in DETAILS:
        assert detail in sv_html, detail

    # Claiming it makes sato the assignee, who then sees it all; tanaka, another staff member, does not.
    claim(staff, t.id)
    post(staff, f"{page}/notes", {"body": "叔母さんと電話で話した"}, token_from=page)
    html = staff.get(page).text
    for detail in (*DETAILS, "叔母さんと電話で話した"):
        assert detail in html, detail
    assert "ご家族（叔母）" in _row(staff.get("/").text, t.id)
    other = _other(app)
    row = _row(other.get("/").text, t.id)
    assert "sato" in row and HIDDEN in row and "ご家族" not in row
    html = other.get(page).text
    for detail in (*DETAILS, "叔母さんと電話で話した"):
        assert detail not in html, detail
    assert 'id="claim"' not in html  # taken: nothing to pick up

    # Every view stays audited, whoever saw what (claim and post fetch the page for its CSRF token).
    assert _views(t.id) == [
        ("sato", "view", ""),
        ("suzuki", "view", "phone shown"),
        ("sato", "view", ""),  # the page claim() read, still unassigned
        ("sato", "view", "phone shown"),
        ("sato", "view", "phone shown"),
        ("tanaka", "view", ""),
    ]


def test_filtering_by_window_does_not_tell_other_staff_which_tickets_have_it(app, staff, supervisor, accounts):
    mine, theirs, unassigned = book(windows=("chanks",)), book(windows=("chanks",)), book(windows=("chanks",))
    claim(staff, mine.id)
    claim(_other(app), theirs.id)

    def listed(client, query: str = "") -> set[int]:
        return {int(x) for x in re.findall(r'data-ticket="(\d+)"', client.get(f"/{query}").text)}

    assert listed(staff) == {mine.id, theirs.id, unassigned.id}  # all of them are there
    assert listed(staff, "?window=chanks") == {mine.id}  # a window only among what sato may read
    assert listed(supervisor, "?window=chanks") == {mine.id, theirs.id, unassigned.id}


# --- the CSV export -------------------------------------------------------------------------------
def _identity(username: str):
    with session_scope() as s:
        user = s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()
        return load_identity(user.id, user.session_nonce)


def test_the_export_follows_the_same_rule(app, staff, supervisor, accounts):
    mine = _book_detailed(situation="自分の担当の相談です")
    other = _book_detailed()
    claim(staff, mine.id)

    # Staff cannot export (a supervisor's page): nothing of any ticket in the answer.
    refused = staff.get("/export.csv")
    assert refused.status_code == 403 and SITUATION not in refused.text

    # The rows themselves keep the rule for anyone who is not a supervisor.
    with session_scope() as s:
        body = to_csv([header(True), *rows(s, ExportRequest(include_phone=True), _identity("sato"))])
    table = list(iter_csv(body))
    by_id = {r[0]: dict(zip(table[0], r)) for r in table[1:]}
    own, hidden = by_id[str(mine.id)], by_id[str(other.id)]
    assert (own["状況"], own["ニックネーム"], own["電話番号"]) == ("自分の担当の相談です", "はなこ", "090-1234-5678")
    assert {hidden[column] for column in DETAIL_COLUMNS} == {"［担当者と監督者にだけ表示］"}
    pickup = (hidden["受付番号"], hidden["優先度"], hidden["状態"], hidden["経路"])
    assert pickup == (str(other.id), "緊急", "新規", "LINE")
    assert hidden["希望日時"] and hidden["受付日時"]
    assert SITUATION.encode() not in body

    # A supervisor's export has every ticket's details.
    sv = supervisor.get("/export.csv")
    assert sv.status_code == 200
    assert SITUATION in sv.data.decode("utf-8-sig") and "自分の担当の相談です" in sv.data.decode("utf-8-sig")


# --- the supervisor's conversation view -----------------------------------------------------------
def _sessions() -> list[dict]:
    """Three sessions of one sender: before, the booking (started at 2000.5), and after."""
    return [
        {"event": "action", "name": "action_session_start", "timestamp": 999.0},
        {"event": "session_started", "timestamp": 1000.25},
        {"event": "user", "text": "前の日の相談です", "timestamp": 1001.0},
        {"event": "bot", "text": "前の日のお返事です", "timestamp": 1002.0},
        {"event": "action", "name": "action_session_start", "timestamp": 2000.0},
        {"event": "session_started", "timestamp": 2000.5},
        {"event": "user", "text": "折り返しをお願いします", "timestamp": 2001.0},
        {"event": "bot", "text": "受け付けました", "timestamp": 2002.0},
        {"event": "action", "name": "action_session_start", "timestamp": 3000.0},
        {"event": "session_started", "timestamp": 3000.5},
        {"event": "user", "text": "次の日の別の話です", "timestamp": 3001.0},
    ]


def test_the_supervisor_reads_only_the_conversation_of_the_booking(supervisor, fake_rasa: FakeRasa):
    t = book(share_conversation=True, session_start=2000.5)
    fake_rasa.events[t.sender_id] = _sessions()
    html = supervisor.get(f"/tickets/{t.id}").text
    assert "折り返しをお願いします" in html and "受け付けました" in html
    assert "前の日の相談です" not in html and "前の日のお返事です" not in html and "次の日の別の話です" not in html
    assert "この依頼を申し込んだ回の会話だけ" in html
    assert _views(t.id) == [("suzuki", "view", ""), ("suzuki", "view_conversation", "")]


def test_a_booking_before_any_session_start_shows_the_conversation_up_to_the_first(supervisor, fake_rasa):
    t = book(share_conversation=True, session_start=0.0)
    fake_rasa.events[t.sender_id] = [
        {"event": "user", "text": "最初の会話です", "timestamp": 10.0},
        *_sessions(),
    ]
    html = supervisor.get(f"/tickets/{t.id}").text
    assert "最初の会話です" in html
    assert "前の日の相談です" not in html and "折り返しをお願いします" not in html


def test_a_ticket_not_linked_to_its_session_shows_no_conversation(supervisor, fake_rasa: FakeRasa):
    t = book(share_conversation=True)  # booked before the session was kept with the ticket
    fake_rasa.events[t.sender_id] = _sessions()
    html = supervisor.get(f"/tickets/{t.id}").text
    assert "申し込んだ回の会話を記録する前に受け付けたため" in html
    assert "折り返しをお願いします" not in html and "前の日の相談です" not in html
    assert not [r for r in fake_rasa.requests if r[0] == "GET"]  # Rasa is not even asked
    assert _views(t.id) == [("suzuki", "view", "")]


def test_the_booking_keeps_the_session_it_was_made_in(staff_env):
    """The action server's draft carries the `session_started` timestamp of the tracker it books
    from (rasa_sdk's tracker: the latest session's events), and the outbox keeps it too."""
    from rasa_sdk import Tracker

    from actions.callback import ActionBookCallback
    from bot.services import outbox
    from bot.store.tickets import book_callback, get_ticket, record_consent

    sender = "rest-" + "ab" * 16
    tracker = Tracker(
        sender,
        {"consent": "share", "confirm": "yes", "contact_method": "chat", "situation": "部屋から出ません"},
        {"text": "はい", "message_id": "m1", "intent": {"name": "affirm"}},
        [
            {"event": "action", "name": "action_session_start", "timestamp": 2000.0},
            {"event": "session_started", "timestamp": 2000.5},
            {"event": "user", "text": "はい", "timestamp": 2001.0},
        ],
        False,
        None,
        {},
        "action_listen",
    )
    draft = ActionBookCallback._draft(tracker)
    assert draft.session_start == 2000.5
    assert outbox.draft_from_dict(outbox.draft_to_dict(draft)).session_start == 2000.5
    with session_scope() as s:
        record_consent(s, sender, "callback_summary", True)
    ticket, created = book_callback(draft)
    assert created and get_ticket(ticket.id).session_start == 2000.5
