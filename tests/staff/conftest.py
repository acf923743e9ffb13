"""Fixtures for the staff app: a fresh SQLite database, var dir and keys per test, two accounts."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient

from bot.security import crypto, pseudonym
from bot.store import stats
from staff import accounts as staff_accounts
from staff import create_app
from staff.accounts import create_user
from tests.staff.helpers import PASSWORD, FakeRasa, closed_port_url, login

NOTIFY_VARS = (
    "STAFF_TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "STAFF_TELEGRAM_CHAT_ID",
    "TELEGRAM_API_BASE_URL",
    "STAFF_SMTP_URL",
    "STAFF_NOTIFY_EMAIL",
    "STAFF_NOTIFY_FROM",
    "STAFF_ONCALL_TELEGRAM_CHAT_ID",
    "RASA_API_TOKEN",
    "MADOGUCHI_NOW",
    "MADOGUCHI_STAFF_SECRET",
    "MADOGUCHI_PUBLIC_URL",
    "MADOGUCHI_STAFF_SESSION_MINUTES",
    "MADOGUCHI_PRIVACY_PATH",
)


@pytest.fixture(autouse=True)
def staff_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'madoguchi.db'}")
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_SENDER_KEY", uuid.uuid4().hex)
    monkeypatch.setenv("MADOGUCHI_STATS_KEY", uuid.uuid4().hex)
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("MADOGUCHI_RASA_URL", closed_port_url())
    for name in NOTIFY_VARS:
        monkeypatch.delenv(name, raising=False)
    # Cheap argon2 parameters: the tests exercise the logic, not the cost of hashing.
    monkeypatch.setattr(staff_accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    crypto.reset_keys()
    pseudonym._key.cache_clear()
    stats.reset_key()
    yield tmp_path
    crypto.reset_keys()
    pseudonym._key.cache_clear()
    stats.reset_key()


@pytest.fixture
def app(staff_env: Path) -> Flask:
    return create_app({"TESTING": True})


@pytest.fixture
def accounts(app: Flask) -> dict[str, str]:
    create_user("sato", PASSWORD, "staff")
    create_user("suzuki", PASSWORD, "supervisor")
    create_user("tanaka", PASSWORD, "staff")
    return {"staff": "sato", "supervisor": "suzuki", "other_staff": "tanaka"}


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def staff(app: Flask, accounts: dict[str, str]) -> FlaskClient:
    c = app.test_client()
    assert login(c, "sato").status_code == 302
    return c


@pytest.fixture
def supervisor(app: Flask, accounts: dict[str, str]) -> FlaskClient:
    c = app.test_client()
    assert login(c, "suzuki").status_code == 302
    return c


@pytest.fixture
def fake_rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRasa]:
    fake = FakeRasa().start()
    monkeypatch.setenv("MADOGUCHI_RASA_URL", fake.url)
    yield fake
    fake.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium (scripts/ensure_debian_packages.sh)")
