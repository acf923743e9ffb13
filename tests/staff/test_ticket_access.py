"""Who sees a phone number and who may reply (issue #12, finding 9): the assignee and
supervisors only, never on a closed ticket; every view stays audited."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.db import session_scope
from bot.store.models import AuditEntry, TicketNote
from tests.staff.helpers import FakeRasa, book, claim, login, post

PHONE = "090-1234-5678"


def _views(ticket_id: int) -> list[tuple[str, str]]:
    with session_scope() as s:
        return [
            (a, d or "")
            for a, d in s.execute(
                select(AuditEntry.actor, AuditEntry.detail)
                .where(AuditEntry.ticket_id == ticket_id, AuditEntry.action == "view")
                .order_by(AuditEntry.id)
            )
        ]


def test_phone_is_shown_to_the_assignee_and_supervisors_only(app, staff, supervisor, accounts):
    t = book(contact_method="phone", phone=PHONE)
    page = f"/tickets/{t.id}"
    unassigned = staff.get(page).text
    assert "5678" not in unassigned and "担当者と監督者にだけ表示" in unassigned
    assert PHONE in supervisor.get(page).text
    claim(staff, t.id)
    assert PHONE in staff.get(page).text
    other = app.test_client()
    assert login(other, "tanaka").status_code == 302
    assert "5678" not in other.get(page).text  # another staff member, once someone took it
    # Every view is audited, and says whether the number was on screen.
    assert _views(t.id) == [
        ("sato", ""),
        ("suzuki", "phone shown"),
        ("sato", ""),
        ("sato", "phone shown"),
        ("tanaka", ""),
    ]


def test_only_the_assignee_or_a_supervisor_replies(app, staff, supervisor, accounts, fake_rasa: FakeRasa):
    t = book()
    page = f"/tickets/{t.id}"
    refused = post(staff, f"{page}/reply", {"message": "お電話します"}, token_from=page)
    assert refused.status_code == 403 and "担当者と監督者だけ" in refused.text
    assert 'action="/tickets/%d/reply"' % t.id not in staff.get(page).text  # no form offered
    claim(staff, t.id)
    other = app.test_client()
    assert login(other, "tanaka").status_code == 302
    assert post(other, f"{page}/reply", {"message": "横から失礼します"}, token_from=page).status_code == 403
    assert post(staff, f"{page}/reply", {"message": "担当の佐藤です"}, token_from=page).status_code == 302
    assert post(supervisor, f"{page}/reply", {"message": "監督者です"}, token_from=page).status_code == 302
    sent = [body["entities"]["staff_message"] for method, _, body in fake_rasa.requests if method == "POST"]
    assert sent == ["担当の佐藤です", "監督者です"]
    with session_scope() as s:
        assert s.execute(select(TicketNote).where(TicketNote.kind == "reply")).scalars().all().__len__() == 2


def test_nobody_replies_on_a_closed_ticket(supervisor, fake_rasa: FakeRasa):
    t = book()
    page = f"/tickets/{t.id}"
    claim(supervisor, t.id)
    for target in ("contacted", "closed"):
        assert post(supervisor, f"{page}/status", {"status": target}, token_from=page).status_code == 302
    resp = post(supervisor, f"{page}/reply", {"message": "まだ続けますか"}, token_from=page)
    assert resp.status_code == 409 and "完了した依頼には返信できません" in resp.text
    assert not [r for r in fake_rasa.requests if r[0] == "POST"]


def test_a_number_typed_into_the_situation_is_shown_only_where_the_phone_is(app, staff, supervisor, accounts):
    """Issue 21, M-8: 「夜は０９０…にかけて」 in the situation must not bypass the phone restriction
    (and the situation itself is the assignee's and supervisors', tests/staff/test_need_to_know.py)."""
    t = book(contact_method="chat", situation="夜なら ０９０－８７６５－４３２１ に電話ください。息子は部屋にいます")
    page = f"/tickets/{t.id}"
    unassigned = staff.get(page).text
    assert "４３２１" not in unassigned and "息子は部屋にいます" not in unassigned
    assert "担当者と監督者にだけ表示" in unassigned
    assert "８７６５－４３２１" in supervisor.get(page).text  # as it was typed
    claim(staff, t.id)
    assert "８７６５－４３２１" in staff.get(page).text
    other = app.test_client()
    assert login(other, "tanaka").status_code == 302
    assert "４３２１" not in other.get(page).text
