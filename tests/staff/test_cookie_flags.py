"""The staff session cookie is Secure whenever the app's public URL is https (issue 12,
finding 7): a cookie sent over plain HTTP once is a session anyone on the path can reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from staff import create_app
from staff.accounts import create_user
from tests.staff.helpers import PASSWORD, login


def session_cookie(monkeypatch: pytest.MonkeyPatch, public_url: str | None) -> str:
    if public_url is None:
        monkeypatch.delenv("MADOGUCHI_PUBLIC_URL", raising=False)
    else:
        monkeypatch.setenv("MADOGUCHI_PUBLIC_URL", public_url)
    app = create_app({"TESTING": True})
    create_user("cookie", PASSWORD, "staff")
    client = app.test_client()
    resp = login(client, "cookie")
    [cookie] = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("madoguchi_staff=")]
    return cookie


@pytest.mark.parametrize(
    "url",
    [
        "https://madoguchi.example.jp",
        "HTTPS://madoguchi.example.jp/staff/",
        "  https://madoguchi.example.jp",
        "Https://madoguchi.example.jp",
    ],
)
def test_https_public_url_makes_the_cookie_secure(staff_env: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    assert "; Secure" in session_cookie(monkeypatch, url)


@pytest.mark.parametrize("url", [None, "http://127.0.0.1:8000"])
def test_plain_http_on_this_machine_keeps_working(
    staff_env: Path, monkeypatch: pytest.MonkeyPatch, url: str | None
) -> None:
    cookie = session_cookie(monkeypatch, url)
    assert "; Secure" not in cookie and "HttpOnly" in cookie
