"""Fixtures for the connector tests: a temporary database and keys per test, and the fake
platform API (helpers live in `tests.channels.harness`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import AsyncIterator

import pytest
from cryptography.fernet import Fernet

from bot.security import crypto, pseudonym
from channels import common
from tests.channels.fake_api import FakeApi


@pytest.fixture(autouse=True)
def channel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh SQLite database, var dir and keys for every test (bot.store.db caches engines per URL)."""
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{tmp_path / 'madoguchi.db'}")
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MADOGUCHI_SENDER_KEY", uuid.uuid4().hex)
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    for name in (
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_ACCESS_TOKEN",
        "LINE_API_BASE_URL",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_SECRET_TOKEN",
        "TELEGRAM_API_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    crypto.reset_keys()
    pseudonym._key.cache_clear()
    common.FAILURES.clear()
    yield tmp_path
    crypto.reset_keys()
    pseudonym._key.cache_clear()


@pytest.fixture
async def fake() -> AsyncIterator[FakeApi]:
    async with FakeApi() as api:
        yield api
