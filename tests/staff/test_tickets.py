"""Inbox, ticket page, workflow, notes, replies, conversation, audit trail."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from bot import clock
from bot.domain.schedule import JST
from bot.store.db import session_scope
from bot.store.models import AuditEntry, CallbackTicket, TicketNote
from staff.workflow import MAX_REPLY
from tests.staff.helpers import FakeRasa, book, claim, post

PINNED = "2026-11-30T10:00:00+09:00"  # Monday 10:00 JST


def inbox_ids(client, query: str = "") -> list[int]:
    html = client.get(f"/{query}").text
    return [int(x) for x in re.findall(r'data-ticket="(\d+)"', html)]


def audit_actions(ticket_id: int | None = None) -> list[tuple[str, str, str | None]]:
    with session_scope() as s:
        q = select(AuditEntry.actor, AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)
        if ticket_id is not None:
            q = q.where(AuditEntry.ticket_id == ticket_id)
        return [tuple(r) for r in s.execute(q)]


def status_of(ticket_id: int) -> str:
    with session_scope() as s:
        return s.get(CallbackTicket, ticket_id).status


@pytest.fixture
def pinned(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_NOW", PINNED)


# --- inbox --------------------------------------------------------------------------------------
def test_inbox_orders_urgent_first_then_preferred_time_then_newest(staff, pinned):
    def at(d: int, h: int) -> datetime:
        return datetime(2026, 12, d, h, 0, tzinfo=JST)

    no_pref_old = book()
    late = book(preferred_slot="2026-12-02_pm", preferred_at=at(2, 13))
    early = book(preferred_slot="2026-12-01_am", preferred_at=at(1, 9))
    urgent_late = book(priority="urgent", preferred_slot="2026-12-02_am", preferred_at=at(2, 9))
    urgent_none = book(priority="urgent")
    no_pref_new = book()
    assert inbox_ids(staff) == [urgent_late.id, urgent_none.id, early.id, late.id, no_pref_new.id, no_pref_old.id]


def test_inbox_shows_only_open_tickets_by_default(staff, supervisor):
    open_t, done = book(), book()
    post(supervisor, f"/tickets/{done.id}/claim", {})
    post(supervisor, f"/tickets/{done.id}/status", {"status": "contacted"})
    post(supervisor, f"/tickets/{done.id}/status", {"status": "closed"})
    assert inbox_ids(staff) == [open_t.id]
    assert inbox_ids(staff, "?status=closed") == [done.id]


def test_inbox_filters(supervisor, pinned):
    # A supervisor, who sees every ticket's windows (others: tests/staff/test_need_to_know.py)
    a = book(
        priority="urgent",
        windows=("chanks",),
        preferred_slot="2026-11-30_pm",
        preferred_at=datetime(2026, 11, 30, 13, tzinfo=JST),
    )
    b = book(
        windows=("mihara_ibasho", "mihara_kokoro"),
        preferred_slot="2026-12-01_am",
        preferred_at=datetime(2026, 12, 1, 9, tzinfo=JST),
    )
    c = book(windows=("mihara_kokoro",))
    assert inbox_ids(supervisor, "?priority=urgent") == [a.id]
    assert set(inbox_ids(supervisor, "?priority=normal")) == {b.id, c.id}
    assert set(inbox_ids(supervisor, "?window=mihara_kokoro")) == {b.id, c.id}
    assert inbox_ids(supervisor, "?window=chanks") == [a.id]
    # "mihara_ibasho" must not match by LIKE wildcards elsewhere
    assert inbox_ids(supervisor, "?window=mihara_ibasho") == [b.id]
    assert inbox_ids(supervisor, "?date_field=preferred&date=2026-12-01") == [b.id]
    created_today = clock.today_jst().isoformat()
    assert set(inbox_ids(supervisor, f"?date_field=created&date={created_today}")) == {a.id, b.id, c.id}
    assert inbox_ids(supervisor, "?date_field=created&date=2020-01-01") == []
    assert inbox_ids(supervisor, "?status=assigned") == []
    # Unknown values are ignored rather than failing.
    assert len(inbox_ids(supervisor, "?window=nope&priority=x&date=garbage&status=zzz")) == 3


def test_inbox_badge_for_today_and_japanese_labels(supervisor, pinned):
    # A supervisor, who sees every ticket's details (others: tests/staff/test_need_to_know.py)
    book(
        relation="family",
        relation_detail="母",
        age_band="40〜49歳",
        needs=("ibasho",),
        windows=("chanks",),
        preferred_slot="2026-11-30_pm",
        preferred_at=datetime(2026, 11, 30, 13, tzinfo=JST),
    )
    book(relation="self", preferred_slot="2026-12-01_am", preferred_at=datetime(2026, 12, 1, 9, tzinfo=JST))
    html = supervisor.get("/").text
    assert html.count(">本日<") == 1
    assert "ご家族（母）" in html and "ご本人" in html and "40〜49歳" in html
    assert "ちゃんくす（市の委託事業含む）" in html and "居場所" in html
    assert "11/30(月) 午後" in html  # the directory's own slot format


def test_inbox_shows_no_phone_number(staff):
    book(contact_method="phone", phone="090-1234-5678")
    assert "5678" not in staff.get("/").text


# --- ticket page --------------------------------------------------------------------------------
def test_ticket_page_shows_the_consented_summary_with_phone(staff):
    t = book(
        contact_method="phone",
        phone="090-1234-5678",
        relation="family",
        relation_detail="母",
        age_min=45,
        age_max=45,
        age_band="40〜49歳",
        situation="二十年近く部屋から出てきません",
        needs=("ibasho", "family"),
        windows=("chanks", "kazokukai"),
        nickname="はなこ",
    )
    claim(staff, t.id)  # the phone number is shown to the assignee (and supervisors) only
    html = staff.get(f"/tickets/{t.id}").text
    for text in (
        "ご家族（母）",
        "40〜49歳",
        "二十年近く部屋から出てきません",
        "居場所",
        "家族の相談・家族会",
        "ちゃんくす（市の委託事業含む）",
        "ひきこもり家族会",
        "090-1234-5678",
        "はなこ",
        "電話",
    ):
        assert text in html, text


def test_every_ticket_view_is_audited(staff, supervisor):
    t = book()
    staff.get(f"/tickets/{t.id}")
    staff.get(f"/tickets/{t.id}")
    supervisor.get(f"/tickets/{t.id}")
    views = [(actor, action) for actor, action, _ in audit_actions(t.id) if action == "view"]
    assert views == [("sato", "view"), ("sato", "view"), ("suzuki", "view")]
    audit_page = supervisor.get(f"/audit?ticket={t.id}").text
    assert audit_page.count(">閲覧<") == 3 and "sato" in audit_page


def test_missing_ticket_is_404(staff):
    assert staff.get("/tickets/999").status_code == 404


# --- workflow -----------------------------------------------------------------------------------
def test_claim_contact_close(staff):
    t = book()
    page = f"/tickets/{t.id}"
    resp = post(staff, f"{page}/claim", {}, token_from=page)
    assert resp.status_code == 302
    assert status_of(t.id) == "assigned"
    with session_scope() as s:
        assert s.get(CallbackTicket, t.id).assigned_to == "sato"
    post(staff, f"{page}/status", {"status": "contacted"}, token_from=page)
    assert status_of(t.id) == "contacted"
    post(staff, f"{page}/status", {"status": "closed"}, token_from=page)
    assert status_of(t.id) == "closed"
    with session_scope() as s:
        assert s.get(CallbackTicket, t.id).closed_at is not None
    html = staff.get(page).text
    assert "この依頼は完了しています" in html and "新規 → 対応中" in html
    changes = [(a, d) for _, a, d in audit_actions(t.id) if a in ("claim", "status")]
    assert changes == [
        ("claim", "from=new to=assigned"),
        ("status", "from=assigned to=contacted"),
        ("status", "from=contacted to=closed"),
    ]


@pytest.mark.parametrize("target", ["closed", "contacted", "unreachable", "new", "bogus"])
def test_invalid_transitions_from_new_are_refused(staff, target):
    t = book()
    resp = post(staff, f"/tickets/{t.id}/status", {"status": target, "next_attempt_at": "2030-01-01T10:00"})
    assert resp.status_code == 302
    assert status_of(t.id) == "new"
    assert "変更できません" in staff.get(f"/tickets/{t.id}").text or target == "bogus"


def test_closed_is_final(supervisor):
    t = book()
    for target in ("assigned", "contacted", "closed"):
        post(supervisor, f"/tickets/{t.id}/status", {"status": target})
    for target in ("new", "assigned", "contacted", "unreachable"):
        post(supervisor, f"/tickets/{t.id}/status", {"status": target, "next_attempt_at": "2030-01-01T10:00"})
        assert status_of(t.id) == "closed"
    assert post(supervisor, f"/tickets/{t.id}/claim", {}).status_code == 302
    assert status_of(t.id) == "closed"


def test_unreachable_needs_a_future_retry_time_then_retry(staff, pinned):
    t = book()
    page = f"/tickets/{t.id}"
    post(staff, f"{page}/claim", {})
    post(staff, f"{page}/status", {"status": "unreachable"})
    assert status_of(t.id) == "assigned"
    assert "次に連絡する日時を入れて" in staff.get(page).text
    post(staff, f"{page}/status", {"status": "unreachable", "next_attempt_at": "2026-11-29T10:00"})
    assert status_of(t.id) == "assigned"
    post(staff, f"{page}/status", {"status": "unreachable", "next_attempt_at": "2026-12-01T14:30"})
    assert status_of(t.id) == "unreachable"
    with session_scope() as s:
        nxt = s.get(CallbackTicket, t.id).next_attempt_at
    assert nxt.replace(tzinfo=timezone.utc) == datetime(2026, 12, 1, 5, 30, tzinfo=timezone.utc)
    assert "次回 12/01 14:30" in staff.get("/").text
    post(staff, f"{page}/claim", {})  # retry
    assert status_of(t.id) == "assigned"
    with session_scope() as s:
        assert s.get(CallbackTicket, t.id).next_attempt_at is None


def test_only_the_assignee_or_a_supervisor_changes_an_assigned_ticket(app, staff, supervisor):
    from tests.staff.helpers import login

    t = book()
    post(staff, f"/tickets/{t.id}/claim", {})
    other = app.test_client()
    login(other, "tanaka")
    post(other, f"/tickets/{t.id}/status", {"status": "contacted"})
    assert status_of(t.id) == "assigned"
    assert "担当者または監督者だけ" in other.get(f"/tickets/{t.id}").text
    post(supervisor, f"/tickets/{t.id}/status", {"status": "contacted"})
    assert status_of(t.id) == "contacted"


def test_notes_are_encrypted_and_audited(staff):
    t = book()
    page = f"/tickets/{t.id}"
    claim(staff, t.id)  # the notes are shown to the assignee and supervisors (issue 21, M-8)
    body = "母親と10分話した。来週もう一度。"
    post(staff, f"{page}/notes", {"body": body}, token_from=page)
    with session_scope() as s:
        note = s.execute(select(TicketNote).where(TicketNote.ticket_id == t.id, TicketNote.kind == "note")).scalar_one()
        assert "母親" not in note.body_enc and note.author == "sato"
    assert "母親と10分話した。来週もう一度。" in staff.get(page).text
    assert ("sato", "note", f"chars={len(body)}") in audit_actions(t.id)


def test_empty_or_huge_note_is_refused(staff):
    t = book()
    post(staff, f"/tickets/{t.id}/notes", {"body": "   "})
    post(staff, f"/tickets/{t.id}/notes", {"body": "あ" * 2001})
    with session_scope() as s:
        assert not s.execute(select(TicketNote).where(TicketNote.kind == "note")).all()


def test_outcome_window(staff):
    t = book()
    post(staff, f"/tickets/{t.id}/claim", {})
    post(staff, f"/tickets/{t.id}/outcome", {"outcome_window": "jiritsu_mihara"})
    with session_scope() as s:
        assert s.get(CallbackTicket, t.id).outcome_window == "jiritsu_mihara"
    assert "自立支援センター みはら（社会福祉協議会）" in staff.get(f"/tickets/{t.id}").text
    post(staff, f"/tickets/{t.id}/outcome", {"outcome_window": "not-a-window"})
    with session_scope() as s:
        assert s.get(CallbackTicket, t.id).outcome_window == "jiritsu_mihara"
    assert ("sato", "outcome", "window=jiritsu_mihara") in audit_actions(t.id)


# --- replies through Rasa -----------------------------------------------------------------------
def test_reply_is_pushed_through_rasa_and_recorded(staff, fake_rasa: FakeRasa, monkeypatch):
    monkeypatch.setenv("RASA_API_TOKEN", "s3cret")
    t = book(sender="telegram-0123456789abcdef0123456789abcdef", channel="telegram")
    claim(staff, t.id)
    page = f"/tickets/{t.id}"
    message = "担当の佐藤です。明日の午前にお電話します。"
    resp = post(staff, f"{page}/reply", {"message": message}, token_from=page)
    assert resp.status_code == 302
    method, path, body = fake_rasa.requests[-1]
    assert method == "POST"
    assert path.startswith(f"/conversations/{t.sender_id}/trigger_intent?")
    assert "output_channel=latest" in path and "token=s3cret" in path
    assert body == {"name": "staff_reply", "entities": {"staff_message": "担当の佐藤です。明日の午前にお電話します。"}}
    with session_scope() as s:
        note = s.execute(select(TicketNote).where(TicketNote.kind == "reply")).scalar_one()
        assert "佐藤" not in note.body_enc
    html = staff.get(page).text
    assert "返信を送りました" in html and "担当の佐藤です。" in html
    assert ("sato", "reply", f"chars={len(message)}") in audit_actions(t.id)


def test_reply_when_rasa_is_down_keeps_the_text(staff):
    t = book()
    claim(staff, t.id)
    resp = post(staff, f"/tickets/{t.id}/reply", {"message": "明日お電話します"})
    assert resp.status_code == 503
    assert "会話サーバーに接続できません" in resp.text
    assert "明日お電話します</textarea>" in resp.text
    with session_scope() as s:
        assert not s.execute(select(TicketNote).where(TicketNote.kind == "reply")).all()


def test_reply_rejected_by_rasa(staff, fake_rasa: FakeRasa):
    fake_rasa.status = 500
    t = book()
    claim(staff, t.id)
    resp = post(staff, f"/tickets/{t.id}/reply", {"message": "こんにちは"})
    assert resp.status_code == 502 and "こんにちは</textarea>" in resp.text


def test_reply_longer_than_500_is_refused(staff, fake_rasa: FakeRasa):
    t = book()
    resp = post(staff, f"/tickets/{t.id}/reply", {"message": "あ" * (MAX_REPLY + 1)})
    assert resp.status_code == 400
    assert not [r for r in fake_rasa.requests if r[0] == "POST"]


# --- conversation (supervisors, with consent) ----------------------------------------------------
def _events(sender: str) -> list[dict]:
    return [
        {"event": "action", "name": "action_listen", "timestamp": 1764464400.0},
        {"event": "user", "text": "息子のことで<b>相談</b>です", "timestamp": 1764464401.0},
        {"event": "bot", "text": "お話しくださってありがとうございます。", "timestamp": 1764464402.0},
        {"event": "slot", "name": "relation", "value": "family", "timestamp": 1764464402.5},
    ]


def test_supervisor_sees_the_conversation_only_with_consent(staff, supervisor, fake_rasa: FakeRasa):
    shared = book(share_conversation=True, session_start=0.0)  # booked in the events below
    private = book(share_conversation=False, session_start=0.0)
    fake_rasa.events[shared.sender_id] = _events(shared.sender_id)
    fake_rasa.events[private.sender_id] = _events(private.sender_id)
    html = supervisor.get(f"/tickets/{shared.id}").text
    assert "会話の記録" in html and "息子のことで&lt;b&gt;相談&lt;/b&gt;です" in html
    assert "お話しくださってありがとうございます。" in html
    assert "息子のことで" not in supervisor.get(f"/tickets/{private.id}").text
    assert "息子のことで" not in staff.get(f"/tickets/{shared.id}").text
    fetched = [p for m, p, _ in fake_rasa.requests if m == "GET"]
    assert len(fetched) == 1 and fetched[0].startswith(f"/conversations/{shared.sender_id}/tracker")
    assert ("suzuki", "view_conversation", None) in audit_actions(shared.id)


def test_conversation_when_rasa_is_down(supervisor):
    t = book(share_conversation=True, session_start=0.0)
    resp = supervisor.get(f"/tickets/{t.id}")
    assert resp.status_code == 200 and "会話サーバーに接続できない" in resp.text


# --- privacy ------------------------------------------------------------------------------------
def test_privacy_renders_the_notice_safely(app, client, tmp_path):
    notice = tmp_path / "privacy.md"
    notice.write_text(
        "# 個人情報の取り扱い\n\n| 内容 | 期間 |\n|---|---|\n| 会話 | 30日 |\n\n"
        "<script>alert(1)</script>\n\n[link](javascript:alert(1))",
        encoding="utf-8",
    )
    app.config["PRIVACY_PATH"] = str(notice)
    html = client.get("/privacy").text
    assert "<h1>個人情報の取り扱い</h1>" in html and "<td>30日</td>" in html
    assert "<script>alert(1)</script>" not in html and "javascript:" not in html


def test_privacy_placeholder_when_the_notice_is_missing(app, client, tmp_path):
    app.config["PRIVACY_PATH"] = str(tmp_path / "missing.md")
    resp = client.get("/privacy")
    assert resp.status_code == 200 and "準備しています" in resp.text


def test_privacy_uses_the_repository_notice_by_default(client):
    from staff.public import DEFAULT_PRIVACY

    html = client.get("/privacy").text
    if DEFAULT_PRIVACY.exists():
        assert "<h1>" in html and "準備しています" not in html
    else:
        assert "準備しています" in html


def test_the_served_notice_says_who_carries_the_messages(client):
    """Issue 21 (H-3): /privacy, the page the greeting links to, names LINE and Telegram."""
    html = client.get("/privacy").text
    assert "LINE（LINEヤフー株式会社）" in html and "Telegram のサービスを通って届きます" in html
