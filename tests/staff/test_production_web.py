"""The staff app in production (issue 21, M-4): behind the proxy each member of staff has their
own login limit, the browser is told to use https only, the cookie is Secure, and a session ends
a fixed time after login however busy it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bot.domain.labels import t
from staff import create_app, web
from staff.accounts import create_user
from tests.staff.helpers import PASSWORD, csrf_token, login


def production_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> Flask:
    monkeypatch.setenv("MADOGUCHI_ENV", "production")
    monkeypatch.setenv("MADOGUCHI_STAFF_SECRET", "staff-secret-for-this-test-0123456789")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return create_app({"TESTING": True, "LOGINS_PER_MINUTE": 3})


HOST = "https://localhost"


def wrong_login(client: FlaskClient, client_address: str, proxy: str = "127.0.0.1") -> int:
    """A failed login as nginx passes it on: it connects from ``proxy`` and names the client
    (and https, so the browser's same-origin Referer is checked too)."""
    headers = {"X-Forwarded-For": client_address, "X-Forwarded-Proto": "https", "Referer": f"{HOST}/login"}
    page = client.get("/login", headers=headers, environ_base={"REMOTE_ADDR": proxy})
    return client.post(
        "/login",
        data={"username": "nobody", "password": "wrong", "csrf_token": csrf_token(page.text)},
        headers=headers,
        environ_base={"REMOTE_ADDR": proxy},
    ).status_code


def test_behind_the_proxy_one_address_at_its_limit_locks_out_no_one_else(
    staff_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = production_app(monkeypatch).test_client()
    assert [wrong_login(client, "198.51.100.7") for _ in range(4)] == [401, 401, 401, 429]
    # Another member of staff, through the same nginx, still gets to try.
    assert wrong_login(client, "203.0.113.20") == 401
    # A client that sends its own X-Forwarded-For gets no new bucket: one proxy hop is trusted.
    assert wrong_login(client, "10.9.9.9, 198.51.100.7") == 429


def test_without_a_proxy_setting_the_proxy_is_the_client(staff_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` (no proxy): X-Forwarded-For is not believed, so it cannot dodge the limit."""
    monkeypatch.delenv("MADOGUCHI_ENV", raising=False)
    client = create_app({"TESTING": True, "LOGINS_PER_MINUTE": 3}).test_client()
    assert [wrong_login(client, f"198.51.100.{n}") for n in range(4)] == [401, 401, 401, 429]


def test_production_sends_hsts_and_a_secure_cookie(staff_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = production_app(monkeypatch, MADOGUCHI_PUBLIC_URL="http://127.0.0.1:8080")
    create_user("sato", PASSWORD, "staff")
    client = app.test_client()
    assert client.get("/login").headers["Strict-Transport-Security"] == web.HSTS
    assert client.get("/privacy").headers["Strict-Transport-Security"] == web.HSTS
    resp = login(client, "sato")
    [cookie] = [h for h in resp.headers.getlist("Set-Cookie") if h.startswith("madoguchi_staff=")]
    assert "; Secure" in cookie and "HttpOnly" in cookie


def test_make_run_on_plain_http_sends_no_hsts(staff_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MADOGUCHI_ENV", raising=False)
    assert "Strict-Transport-Security" not in create_app({"TESTING": True}).test_client().get("/login").headers


def test_a_session_ends_a_fixed_time_after_login_however_active(
    staff_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = production_app(monkeypatch, MADOGUCHI_STAFF_SESSION_MAX_HOURS="8")
    create_user("sato", PASSWORD, "staff")
    client = app.test_client()
    start = 1_750_000_000.0
    monkeypatch.setattr(web, "now", lambda: start)
    assert login(client, "sato").status_code == 302
    monkeypatch.setattr(web, "now", lambda: start + 7.9 * 3600)
    assert client.get("/").status_code == 200  # active all day: still in
    monkeypatch.setattr(web, "now", lambda: start + 8 * 3600 + 1)
    resp = client.get("/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert t("flash.session_expired") in client.get("/login").text
    # The session is gone, not just refused once.
    monkeypatch.setattr(web, "now", lambda: start)
    assert client.get("/").status_code == 302


def test_settings_read_from_the_environment() -> None:
    assert web.WebSettings.from_env({}).proxies == 0
    assert web.WebSettings.from_env({"MADOGUCHI_ENV": "production"}).proxies == 1
    assert web.WebSettings.from_env({"MADOGUCHI_ENV": "production", "MADOGUCHI_STAFF_PROXIES": "2"}).proxies == 2
    assert web.WebSettings.from_env({"MADOGUCHI_STAFF_SECURE_COOKIE": "1"}).secure_cookie
    with pytest.raises(ValueError):
        web.WebSettings.from_env({"MADOGUCHI_STAFF_PROXIES": "-1"})


def test_staff_can_log_in_over_https_through_the_proxy(staff_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a browser sends behind nginx: https, and the Referer that Referrer-Policy same-origin
    lets through (with no-referrer, Flask-WTF refused every https login with 400)."""
    app = production_app(monkeypatch)
    create_user("sato", PASSWORD, "staff")
    client = app.test_client()
    assert client.get("/login").headers["Referrer-Policy"] == "same-origin"
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https", "Referer": f"{HOST}/login"}
    page = client.get("/login", headers=headers)
    resp = client.post(
        "/login", data={"username": "sato", "password": PASSWORD, "csrf_token": csrf_token(page.text)}, headers=headers
    )
    assert resp.status_code == 302
    assert client.get("/", headers=headers).status_code == 200


def live_wrong_login(base: str, client_address: str) -> int:
    """``wrong_login`` against a served app, as nginx passes it on (the Secure cookie is carried
    by hand: the hop from nginx is plain http)."""
    import http.client
    from urllib.parse import urlencode, urlsplit

    host, port = urlsplit(base).hostname, urlsplit(base).port
    headers = {
        "X-Forwarded-For": client_address,
        "X-Forwarded-Proto": "https",
        "Referer": f"{HOST}/login",
        "Host": urlsplit(HOST).hostname,
    }
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", "/login", headers=headers)
        page = conn.getresponse()
        html = page.read().decode()
        [cookie] = [
            v.split(";", 1)[0]
            for k, v in page.getheaders()
            if k.lower() == "set-cookie" and v.startswith("madoguchi_staff=")
        ]
        body = urlencode({"username": "nobody", "password": "wrong", "csrf_token": csrf_token(html)})
        conn.request(
            "POST",
            "/login",
            body=body,
            headers={**headers, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def test_production_serves_the_staff_app_with_gunicorn_on_loopback(staff_env: Path) -> None:
    """Issue 21 (M-4): the command of deploy/processes.py (the systemd unit's and the launcher's)
    starts gunicorn, not Werkzeug's development server: bound to 127.0.0.1 only, the fixed number
    of workers, and behind the proxy each client still has its own login limit."""
    import os
    import subprocess
    import time
    import urllib.request

    from deploy.processes import STAFF_WORKERS, Place, argv, process
    from tests.stack import ROOT, free_port, wait_http

    port = free_port()
    home = staff_env / "home"
    home.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        MADOGUCHI_ENV="production",
        STAFF_NOTIFY_INTERVAL="5",
        HOME=str(home),
        XDG_RUNTIME_DIR=str(home),
        MADOGUCHI_STAFF_SECRET="staff-secret-for-this-test-0123456789",
        MADOGUCHI_STAFF_LOGINS_PER_MINUTE="3",
    )
    cmd = argv(process("staff"), Place(root=str(ROOT), model="", env_file=""), str(port))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthz", 60)
        assert proc.poll() is None
        with urllib.request.urlopen(f"{base}/privacy", timeout=10) as resp:
            assert resp.status == 200 and resp.headers["Server"].startswith("gunicorn")
        listening = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True).stdout
        assert [line.split()[3] for line in listening.splitlines()] == [f"127.0.0.1:{port}"]
        time.sleep(1)  # the workers are up once the app answers; give a crashed one time to show
        workers = subprocess.run(
            ["ps", "--ppid", str(proc.pid), "-o", "pid="], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) == STAFF_WORKERS
        assert [live_wrong_login(base, "198.51.100.7") for _ in range(4)] == [401, 401, 401, 429]
        assert live_wrong_login(base, "203.0.113.20") == 401
        # No control socket through which a local account could resize or reload it.
        assert not [p.name for p in home.rglob("*")], "gunicorn left a control socket"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode(errors="replace")[-3000:]
