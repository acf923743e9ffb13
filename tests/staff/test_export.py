"""/export.csv: phones only on explicit request, escaped cells, BOM, audited."""

from __future__ import annotations

from sqlalchemy import select

from bot.store.db import session_scope
from bot.store.models import AuditEntry
from staff.csvout import escape_cell
from tests.staff.helpers import book, iter_csv, post


def exports() -> list[tuple[str, str]]:
    with session_scope() as s:
        return [
            (a, d)
            for a, d in s.execute(
                select(AuditEntry.actor, AuditEntry.detail).where(AuditEntry.action == "export").order_by(AuditEntry.id)
            )
        ]


def _tickets() -> None:
    book(
        contact_method="phone",
        phone="090-1234-5678",
        relation="family",
        relation_detail="母",
        age_band="40〜49歳",
        situation="部屋から出てきません",
        needs=("ibasho",),
        windows=("chanks",),
        nickname="はなこ",
    )
    book(situation='=HYPERLINK("http://evil","x")', nickname="+81 @me", relation="self")


def test_export_excludes_phones_by_default(supervisor):
    _tickets()
    resp = supervisor.get("/export.csv")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert "attachment;" in resp.headers["Content-Disposition"]
    rows = list(iter_csv(resp.data))
    assert rows[0][0] == "受付番号" and "電話番号" not in rows[0]
    assert len(rows) == 3
    assert "090-1234-5678" not in resp.data.decode("utf-8-sig")
    first = dict(zip(rows[0], rows[1]))
    assert first["相談者"] == "ご家族" and first["続柄など"] == "母" and first["年齢帯"] == "40〜49歳"
    assert first["希望"] == "居場所" and first["案内した窓口"] == "ちゃんくす（市の委託事業含む）"
    assert first["状況"] == "部屋から出てきません" and first["状態"] == "新規"
    assert exports() == [("suzuki", "include_phone=no rows=2 scope=all")]


def test_phone_needs_the_confirmation_form(supervisor):
    _tickets()
    # A plain link cannot ask for phones: it is sent to the confirmation form.
    resp = supervisor.get("/export.csv?include_phone=1")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/export")
    # Ticking "include" without the confirmation is refused.
    resp = post(supervisor, "/export.csv", {"include_phone": "y", "scope": "all"}, token_from="/export")
    assert resp.status_code == 400 and "確認のチェック" in resp.text
    assert exports() == []
    # Without a CSRF token the form is refused.
    resp = supervisor.post("/export.csv", data={"include_phone": "y", "confirm_phone": "y"})
    assert resp.status_code == 400
    resp = post(
        supervisor, "/export.csv", {"include_phone": "y", "confirm_phone": "y", "scope": "all"}, token_from="/export"
    )
    assert resp.status_code == 200
    rows = list(iter_csv(resp.data))
    assert rows[0][-1] == "電話番号" and rows[1][-1] == "090-1234-5678"
    assert "with-phone" in resp.headers["Content-Disposition"]
    assert exports() == [("suzuki", "include_phone=yes rows=2 scope=all")]


def test_export_form_without_phone(supervisor):
    _tickets()
    resp = post(supervisor, "/export.csv", {"scope": "open"}, token_from="/export")
    rows = list(iter_csv(resp.data))
    assert "電話番号" not in rows[0]
    assert exports() == [("suzuki", "include_phone=no rows=2 scope=open")]


def test_csv_injection_is_neutralised(supervisor):
    _tickets()
    rows = list(iter_csv(supervisor.get("/export.csv").data))
    second = dict(zip(rows[0], rows[2]))
    assert second["状況"].startswith("'=HYPERLINK")
    assert second["ニックネーム"] == "'+81 @me"


def test_escape_cell():
    assert escape_cell("=1+1") == "'=1+1"
    assert escape_cell("+81") == "'+81"
    assert escape_cell("-2") == "'-2"
    assert escape_cell("@SUM(A1)") == "'@SUM(A1)"
    assert escape_cell("\t=1") == "'\t=1"
    assert escape_cell("＝1") == "'＝1"
    assert escape_cell("090-1234-5678") == "090-1234-5678"
    assert escape_cell(None) == "" and escape_cell(3) == "3"


def test_export_page_lists_the_options(supervisor):
    html = supervisor.get("/export").text
    assert "電話番号を含める" in html and 'name="csrf_token"' in html


def test_a_number_typed_into_the_situation_stays_out_of_an_export_without_phones(supervisor):
    book(situation="連絡は090-2222-3333へ。昼は寝ています", nickname="080 4444 5555")
    plain = supervisor.get("/export.csv").data.decode("utf-8-sig")
    assert "3333" not in plain and "5555" not in plain and "昼は寝ています" in plain
