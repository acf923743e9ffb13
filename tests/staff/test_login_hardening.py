"""Login under attack (issue #12, findings 6 and 12): parallel wrong passwords against the real
threaded server, the per-address limit, the bounded hashing pool, and one answer for unknown,
locked and wrong."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Iterator

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from werkzeug.serving import make_server

from bot.store.db import session_scope
from bot.store.models import AuditEntry
from staff import accounts as staff_accounts
from staff import create_app
from staff.models import StaffUser
from tests.staff.helpers import PASSWORD, csrf_token, login

WRONG = "wrong-password-123"


class LiveApp:
    """The staff app on werkzeug's threaded server (as `python -m staff` runs it)."""

    def __init__(self, **config: object) -> None:
        self.app = create_app({"TESTING": True, **config})
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveApp":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()

    def prepared_login(self, username: str, password: str) -> "urllib.request.Request":
        """A login POST with its own session cookie and CSRF token, ready to send."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{self.url}/login", timeout=10) as resp:
            token = csrf_token(resp.read().decode())
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "next": "", "csrf_token": token}
        ).encode()
        req = urllib.request.Request(f"{self.url}/login", data=body)
        req.opener = opener
        return req


def send_in_parallel(requests: list[urllib.request.Request]) -> list[int]:
    """Send every request at the same instant (one thread each); their HTTP statuses."""
    barrier = threading.Barrier(len(requests))
    statuses: list[int] = [0] * len(requests)

    def one(i: int) -> None:
        barrier.wait()
        try:
            with requests[i].opener.open(requests[i], timeout=60) as resp:
                statuses[i] = resp.status
        except urllib.error.HTTPError as err:
            statuses[i] = err.code

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(90)
    return statuses


def _user(username: str) -> StaffUser:
    with session_scope() as s:
        return s.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()


def _audit(actor: str) -> list[tuple[str, str]]:
    with session_scope() as s:
        return [
            (a, d or "")
            for a, d in s.execute(select(AuditEntry.action, AuditEntry.detail).where(AuditEntry.actor == actor))
        ]


@pytest.fixture
def slower_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Verification takes milliseconds (as the real 64 MiB one takes longer): the parallel
    attempts really overlap."""
    monkeypatch.setattr(staff_accounts, "_hasher", PasswordHasher(time_cost=3, memory_cost=4096, parallelism=1))
    yield


def test_twelve_parallel_wrong_passwords_are_all_counted_and_lock_the_account(accounts, slower_hashing):
    with LiveApp(LOGINS_PER_MINUTE=100) as live:
        requests = [live.prepared_login("sato", WRONG) for _ in range(12)]
        statuses = send_in_parallel(requests)
        assert statuses == [401] * 12
        user = _user("sato")
        assert user.locked_until is not None  # 12 failures ≥ 5: locked, however they interleaved
        failures = [d for a, d in _audit("sato") if a == "login_failed"]
        locks = [a for a, _ in _audit("sato") if a == "locked"]
        # Every attempt was counted once: none overwrote another's count.
        assert len(failures) + len(locks) == 12 and locks
        # The right password is refused while locked.
        assert send_in_parallel([live.prepared_login("sato", PASSWORD)]) == [401]


def test_a_burst_from_one_address_is_cut_off_before_hashing(accounts, monkeypatch):
    verified: list[str] = []
    real = staff_accounts._verify
    monkeypatch.setattr(staff_accounts, "_verify", lambda h, p: verified.append(p) or real(h, p))
    with LiveApp(LOGINS_PER_MINUTE=10) as live:
        statuses = send_in_parallel([live.prepared_login("tanaka", WRONG) for _ in range(12)])
    assert sorted(statuses) == [401] * 10 + [429] * 2
    assert len(verified) == 10  # the refused ones cost no argon2


def test_at_most_the_pool_size_of_verifications_run_at_once(accounts, monkeypatch):
    running, peak, lock = [0], [0], threading.Lock()

    class CountingHasher(PasswordHasher):
        def verify(self, hash_: str | bytes, password: str | bytes) -> bool:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return super().verify(hash_, password)
            finally:
                with lock:
                    running[0] -= 1

    monkeypatch.setattr(staff_accounts, "_hasher", CountingHasher(time_cost=3, memory_cost=4096, parallelism=1))
    with LiveApp(LOGINS_PER_MINUTE=100) as live:
        names = ["sato", "suzuki", "tanaka", "nobody"] * 3
        statuses = send_in_parallel([live.prepared_login(n, WRONG) for n in names])
    assert statuses == [401] * 12
    assert staff_accounts.HASH_WORKERS >= peak[0] >= 1


def _answer(resp) -> tuple[int, str]:
    flashes = re.findall(r'class="flash flash-error"[^>]*>(.*?)<', resp.text, re.S)
    return resp.status_code, " ".join(f.strip() for f in flashes)


def test_locked_and_unknown_accounts_get_the_same_answer_and_cost(client, accounts, monkeypatch):
    for _ in range(5):
        login(client, "sato", WRONG)
    assert _user("sato").locked_until is not None
    verified: list[str] = []
    real = staff_accounts._verify
    monkeypatch.setattr(staff_accounts, "_verify", lambda h, p: verified.append(h) or real(h, p))
    locked_wrong = _answer(login(client, "sato", WRONG))
    locked_right = _answer(login(client, "sato"))
    unknown = _answer(login(client, "nobody", WRONG))
    wrong = _answer(login(client, "tanaka", WRONG))
    assert locked_wrong == locked_right == unknown == wrong
    assert locked_wrong[0] == 401 and "正しくありません" in locked_wrong[1]
    assert len(verified) == 4  # one argon2 verification for each, locked and unknown included
