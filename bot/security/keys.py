"""Secrets from the environment, with a generated per-installation file for local runs.

Production sets the environment variables; `make run` on a fresh clone gets random keys
in `var/` (mode 0600) so nothing ever runs with a hard-coded key.

Production is known by MADOGUCHI_ENV=production (deploy/production.env sets it). There a
missing secret is an error, never a freshly generated key: a new key on one machine would
make the others' pseudonyms and ciphertexts unreadable, or silently split them.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from bot import config, paths

ROOT = paths.ROOT
ENV_NAME = "MADOGUCHI_ENV"
#: Every secret a production process may need; `check_production_secrets` names the missing ones.
PRODUCTION_SECRETS = ("MADOGUCHI_FERNET_KEYS", "MADOGUCHI_SENDER_KEY", "MADOGUCHI_STATS_KEY", "MADOGUCHI_STAFF_SECRET")


class MissingSecret(RuntimeError):
    """A secret is not set where generating one would be wrong (production)."""


def is_production() -> bool:
    return config.settings().text(ENV_NAME).strip().lower() == "production"


def private_umask() -> None:
    """Files this process creates are readable by its user only (0600 files, 0700 directories)."""
    os.umask(0o077)


def var_dir() -> Path:
    """The installation's private directory (0700): keys, SQLite databases, the outbox."""
    path = config.settings().path("MADOGUCHI_VAR_DIR")
    private_umask()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
        path.chmod(0o700)  # made by an older version, or by `mkdir` with the default umask
    return path


def create_private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (SQLite then keeps the mode, and gives
    it to its -wal and -shm files). A missing directory is left for SQLite to report."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except (FileExistsError, FileNotFoundError):
        pass


def load_or_create_secret(env_name: str, filename: str, *, fernet: bool = False) -> bytes:
    value = config.settings().raw(env_name)
    if value:
        return value.encode("utf-8")
    if is_production():
        raise MissingSecret(f"{env_name} is not set ({ENV_NAME}=production never generates keys)")
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


def check_production_secrets() -> list[str]:
    """The secrets a production process would miss (empty outside production)."""
    if not is_production():
        return []
    return [name for name in PRODUCTION_SECRETS if not config.settings().is_set(name)]
