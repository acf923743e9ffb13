"""`make run-production` on a new machine: deploy.local_env writes keys once and never replaces them."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.fernet import Fernet

from deploy import local_env


def _values(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )


def test_keys_are_generated_once_private_and_usable(tmp_path: Path) -> None:
    path = tmp_path / "production.env"
    assert local_env.main([str(path)]) == 0
    first = _values(path)
    assert len(first["MADOGUCHI_SENDER_KEY"]) == 64
    Fernet(first["MADOGUCHI_FERNET_KEYS"].encode())  # a valid key, or this raises
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first["MADOGUCHI_ENV"] == "production" and first["LINE_CHANNEL_SECRET"] == ""

    assert local_env.main([str(path)]) == 0
    assert _values(path) == first  # a second run keeps the deployment's keys
