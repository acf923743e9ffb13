"""Secrets from the environment, with a generated per-installation file for local runs.

Production sets the environment variables; `make run` on a fresh clone gets random keys
in `var/` (mode 0600) so nothing ever runs with a hard-coded key.
"""
from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def var_dir() -> Path:
    path = Path(os.environ.get("MADOGUCHI_VAR_DIR") or ROOT / "var")
    path.mkdir(parents=True, exist_ok=True)
    return path


def load_or_create_secret(env_name: str | None, filename: str, *, fernet: bool = False) -> bytes:
    value = os.environ.get(env_name) if env_name else None
    if value:
        return value.encode("utf-8")
    path = var_dir() / filename
    if not path.exists():
        raw = base64.urlsafe_b64encode(secrets.token_bytes(32)) if fernet else secrets.token_hex(32).encode()
        # O_EXCL: two processes starting together must not overwrite each other's key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
    return path.read_bytes().strip()
