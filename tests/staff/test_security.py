"""Access control, CSRF, lockout, sessions, escaping, headers."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.store.db import session_scope
from bot.store.models import AuditEntry
from staff import create_app
from staff.models import StaffUser
from tests.staff.helpers import PASSWORD, book, claim, csrf_token, login, post

PROTECTED_GET = [
    "/",
    "/?status=new",
    "/tickets/1",
    "/audit",
    "/export",
    "/export.csv",
    "/stats",
    "/stats.csv",
    "/no-such-page",
]
SUPERVISOR_ONLY = ["/audit", "/export", "/export.csv", "/stats", "/stats.csv"]


@pytest.mark.parametrize("path", PROTECTED_GET)
def test_every_page_redirects_to_login_without_a_session(client, path):
    book()
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    "path",
    [
        "/tickets/1/claim",
        "/tickets/1/status",
        "/tickets/1/notes",
        "/tickets/1/reply",
        "/tickets/1/outcome",
        "/export.csv",
    ],
)
def test_posts_without_a_session_do_not_reach_the_ticket(client, path):
    book()
    resp = client.post(path, data={})
    assert resp.status_code in (302, 400)
    with session_scope() as s:
        assert not s.execute(select(AuditEntry).where(AuditEntry.action.in_(("claim", "status", "note")))).all()


def test_public_pages_need_no_login(client):
    assert client.get("/privacy").status_code == 200
    assert client.get("/static/staff.css").status_code == 200
    assert client.get("/login").status_code == 200


def test_login_post_without_csrf_token_is_rejected(client, accounts):
    resp = client.post("/login", data={"username": "sato", "password": PASSWORD})
    assert resp.status_code == 400
    assert "有効期限" in resp.text


def test_post_without_csrf_token_is_rejected_when_logged_in(staff):
    ticket = book()
    resp = staff.post(f"/tickets/{ticket.id}/claim", data={})
    assert resp.status_code == 400
    resp = staff.post(f"/tickets/{ticket.id}/claim", data={"csrf_token": "forged"})
    assert resp.status_code == 400
    with session_scope() as s:
        assert not s.execute(select(AuditEntry).where(AuditEntry.action == "claim")).all()


def test_logout_needs_post_with_csrf(staff):
    assert staff.get("/logout").status_code == 405
    assert staff.post("/logout", data={}).status_code == 400
    assert staff.get("/").status_code == 200


@pytest.mark.parametrize("path", SUPERVISOR_ONLY)
def test_staff_cannot_reach_supervisor_pages(staff, path):
    assert staff.get(path).status_code == 403


def test_staff_cannot_post_an_export(staff):
    resp = post(staff, "/export.csv", {"include_phone": "y", "confirm_phone": "y"})
    assert resp.status_code == 403


@pytest.mark.parametrize("path", SUPERVISOR_ONLY)
def test_supervisor_reaches_supervisor_pages(supervisor, path):
    assert supervisor.get(path).status_code == 200


def test_navigation_hides_supervisor_links_from_staff(staff, supervisor):
    assert 'href="/audit"' not in staff.get("/").text
    assert 'href="/audit"' in supervisor.get("/").text


def _locked_until(username: str):
    with session_scope() as s:
        return s.execute(select(StaffUser.locked_until).where(StaffUser.username == username)).scalar_one()


def test_lockout_after_five_failed_logins(client, accounts, monkeypatch):
    start = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("MADOGUCHI_NOW", start.isoformat())
    for _ in range(4):
        resp = login(client, "sato", "wrong-password-123")
        assert resp.status_code == 401 and "正しくありません" in resp.text
        assert _locked_until("sato") is None
    resp = login(client, "sato", "wrong-password-123")
    assert resp.status_code == 401 and "ロック" in resp.text
    assert _locked_until("sato") is not None  # stored in the database
    # The right password is refused while locked ...
    resp = login(client, "sato")
    assert resp.status_code == 401 and "ロック" in resp.text
    monkeypatch.setenv("MADOGUCHI_NOW", (start + timedelta(minutes=14)).isoformat())
    assert login(client, "sato").status_code == 401
    # ... and accepted after 15 minutes.
    monkeypatch.setenv("MADOGUCHI_NOW", (start + timedelta(minutes=15, seconds=1)).isoformat())
    assert login(client, "sato").status_code == 302
    assert client.get("/").status_code == 200
    with session_scope() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.actor == "sato"))]
    assert actions.count("login_failed") >= 5 and "locked" in actions and "login" in actions


def test_lockout_of_one_account_does_not_lock_another(client, accounts):
    for _ in range(5):
        login(client, "sato", "wrong-password-123")
    assert login(client, "tanaka").status_code == 302


def test_a_successful_login_resets_the_failure_count(client, accounts):
    for _ in range(4):
        login(client, "sato", "wrong-password-123")
    assert login(client, "sato").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    for _ in range(4):
        login(client, "sato", "wrong-password-123")
    assert login(client, "sato").status_code == 302


def test_unknown_user_gets_the_same_answer(client, accounts):
    resp = login(client, "nobody")
    assert resp.status_code == 401 and "正しくありません" in resp.text


def test_session_expires_after_the_configured_idle_time(staff_env, accounts):
    app = create_app({"TESTING": True, "PERMANENT_SESSION_LIFETIME": timedelta(seconds=1)})
    c = app.test_client()
    assert login(c, "sato").status_code == 302
    assert c.get("/").status_code == 200
    time.sleep(2.2)
    assert c.get("/").status_code == 302


def test_session_cookie_is_http_only_and_refreshed(staff):
    resp = staff.get("/")
    cookie = resp.headers.get("Set-Cookie", "")
    assert "madoguchi_staff=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # a permanent session: 30 minutes from this request


def test_default_session_lifetime_is_thirty_minutes(app):
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)


def test_logout_invalidates_a_copied_session_cookie(app, accounts):
    c = app.test_client()
    login(c, "sato")
    stolen = c.get_cookie("madoguchi_staff").value
    c.post("/logout", data={"csrf_token": csrf_token(c.get("/").text)})
    other = app.test_client()
    other.set_cookie("madoguchi_staff", stolen)
    assert other.get("/").status_code == 302


def test_login_redirects_only_to_local_paths(client, accounts):
    resp = login(client, "sato", next_url="//evil.example/steal")
    assert resp.headers["Location"] == "/"
    client2 = client.application.test_client()
    resp = login(client2, "sato", next_url="/audit")
    assert resp.headers["Location"] == "/audit"


def test_user_text_is_escaped_everywhere(staff, supervisor):
    evil = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    ticket = book(situation=evil, nickname=evil, relation="family", relation_detail="<b>母</b>")
    claim(staff, ticket.id)  # the details are shown to the assignee (issue 21, M-8)
    page = staff.get(f"/tickets/{ticket.id}").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>母</b>" not in page
    assert "&lt;script&gt;alert" in page
    inbox = staff.get("/").text
    assert "<b>母</b>" not in inbox and "&lt;b&gt;母&lt;/b&gt;" in inbox
    post(staff, f"/tickets/{ticket.id}/notes", {"body": evil}, token_from=f"/tickets/{ticket.id}")
    page = supervisor.get(f"/tickets/{ticket.id}").text
    assert "<script>alert" not in page


def test_security_headers(staff):
    resp = staff.get("/")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Referrer-Policy"] == "same-origin"


def test_secret_key_is_generated_per_installation(staff_env):
    app1 = create_app({"TESTING": True})
    app2 = create_app({"TESTING": True})
    assert app1.secret_key == app2.secret_key and len(app1.secret_key) >= 32
    assert (staff_env / "var" / "staff_secret.key").stat().st_mode & 0o077 == 0


def test_secret_key_from_the_environment(staff_env, monkeypatch):
    monkeypatch.setenv("MADOGUCHI_STAFF_SECRET", "x" * 40)
    assert create_app({"TESTING": True}).secret_key == b"x" * 40
