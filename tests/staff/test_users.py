"""`python -m staff.users` (make staff-user) and the stored hashes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.store.db import session_scope
from staff import users
from staff.accounts import LoginResult, authenticate
from staff.models import StaffUser

ROOT = Path(__file__).resolve().parents[2]


def test_create_from_environment_password(monkeypatch, capsys):
    monkeypatch.setenv("MADOGUCHI_STAFF_PASSWORD", "a-long-enough-password")
    assert users.main(["create", "--username", "yamada", "--role", "supervisor"]) == 0
    assert "created yamada (supervisor)" in capsys.readouterr().out
    with session_scope() as s:
        user = s.execute(select(StaffUser).where(StaffUser.username == "yamada")).scalar_one()
        assert user.role == "supervisor" and user.password_hash.startswith("$argon2id$")
        assert "a-long-enough-password" not in user.password_hash
    assert authenticate("yamada", "a-long-enough-password")[0] is LoginResult.OK


def test_short_password_duplicate_and_bad_names_are_refused(monkeypatch, capsys):
    monkeypatch.setenv("MADOGUCHI_STAFF_PASSWORD", "short")
    assert users.main(["create", "--username", "kato", "--role", "staff"]) == 2
    assert "at least 12" in capsys.readouterr().err
    monkeypatch.setenv("MADOGUCHI_STAFF_PASSWORD", "a-long-enough-password")
    assert users.main(["create", "--username", "kato", "--role", "staff"]) == 0
    assert users.main(["create", "--username", "kato", "--role", "staff"]) == 2
    assert users.main(["create", "--username", "bad name!", "--role", "staff"]) == 2


def test_passwd_unlock_and_list(monkeypatch, capsys):
    monkeypatch.setenv("MADOGUCHI_STAFF_PASSWORD", "a-long-enough-password")
    users.main(["create", "--username", "ito", "--role", "staff"])
    for _ in range(5):
        authenticate("ito", "wrong-password-123")
    assert authenticate("ito", "a-long-enough-password")[0] is LoginResult.LOCKED
    users.main(["list"])
    assert "ito\tstaff\tlocked until" in capsys.readouterr().out
    assert users.main(["unlock", "--username", "ito"]) == 0
    assert authenticate("ito", "a-long-enough-password")[0] is LoginResult.OK
    monkeypatch.setenv("MADOGUCHI_STAFF_PASSWORD", "another-long-password")
    assert users.main(["passwd", "--username", "ito"]) == 0
    assert authenticate("ito", "another-long-password")[0] is LoginResult.OK


def test_module_entry_point_without_a_terminal(staff_env):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MADOGUCHI_STAFF_PASSWORD": "a-long-enough-password"}
    done = subprocess.run(
        [sys.executable, "-m", "staff.users", "create", "--username", "cli-user", "--role", "staff"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    env.pop("MADOGUCHI_STAFF_PASSWORD")
    done = subprocess.run(
        [sys.executable, "-m", "staff.users", "create", "--username", "x2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2 and "MADOGUCHI_STAFF_PASSWORD" in done.stderr
