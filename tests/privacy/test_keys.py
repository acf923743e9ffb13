"""Keys fail closed, rotation reaches everything encrypted, files are private (issue #12: 8, 10)."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.security import crypto
from bot.security.keys import ROOT, MissingSecret
from bot.services import key_rotation, outbox
from bot.store.db import get_engine, session_scope
from bot.store.tickets import TicketDraft, book_callback, get_ticket, record_consent
from deploy import local_env


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    var = tmp_path / "var"
    var.mkdir()
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(var))
    monkeypatch.setenv("MADOGUCHI_DB_URL", f"sqlite:///{var / 'madoguchi.db'}")
    monkeypatch.setenv("MADOGUCHI_TRACKER_DB_URL", f"sqlite:///{var / 'tracker.db'}")
    monkeypatch.delenv("MADOGUCHI_ENV", raising=False)
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())
    crypto.reset_keys()
    yield var
    crypto.reset_keys()


def _draft(sender: str = "rest-a", key: str = "k1") -> TicketDraft:
    return TicketDraft(
        sender_id=sender,
        channel="rest",
        conversation_key=key,
        contact_method="phone",
        consent_at=datetime.now(timezone.utc),
        phone="+819011112222",
        nickname="はなこ",
    )


# --- fail closed (finding 10) -------------------------------------------------------------------
def test_production_without_keys_refuses_instead_of_generating_one(env, monkeypatch):
    monkeypatch.setenv("MADOGUCHI_ENV", "production")
    monkeypatch.delenv("MADOGUCHI_FERNET_KEYS")
    crypto.reset_keys()
    with pytest.raises(MissingSecret, match="MADOGUCHI_FERNET_KEYS"):
        crypto.encrypt("+819011112222")
    assert not (env / "fernet.key").exists()  # no key was made up


def test_outside_production_a_local_key_is_generated_once(env, monkeypatch):
    monkeypatch.delenv("MADOGUCHI_FERNET_KEYS")
    crypto.reset_keys()
    token = crypto.encrypt("x")
    crypto.reset_keys()
    assert crypto.decrypt(token) == "x"
    assert stat.S_IMODE((env / "fernet.key").stat().st_mode) == 0o600


def test_init_db_refuses_to_start_production_with_a_key_missing(env, tmp_path):
    run_env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "MADOGUCHI_ENV": "production",
        "MADOGUCHI_VAR_DIR": str(env),
        "MADOGUCHI_DB_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "MADOGUCHI_TRACKER_DB_URL": f"sqlite:///{tmp_path / 't.db'}",
        "MADOGUCHI_FERNET_KEYS": Fernet.generate_key().decode(),
        "MADOGUCHI_SENDER_KEY": "s" * 64,
    }
    done = subprocess.run(
        [sys.executable, "-m", "deploy.init_db"], env=run_env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "MADOGUCHI_STATS_KEY" in done.stderr and "MADOGUCHI_STAFF_SECRET" in done.stderr
    assert not (tmp_path / "a.db").exists()


def test_a_value_no_key_decrypts_raises_instead_of_reading_as_nothing(env, monkeypatch):
    with session_scope() as s:
        record_consent(s, "rest-a", "callback_summary", True)
    ticket, _ = book_callback(_draft())
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", Fernet.generate_key().decode())  # the old key is gone
    crypto.reset_keys()
    with pytest.raises(crypto.DecryptionError):
        get_ticket(ticket.id)


# --- rotation reaches the outbox spool and the conversations (finding 10) -----------------------
def test_rotation_covers_tickets_outbox_spool_and_tracker_events(env, monkeypatch):
    old_key = Fernet.generate_key().decode()
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", old_key)
    crypto.reset_keys()
    with session_scope() as s:
        record_consent(s, "rest-a", "callback_summary", True)
    ticket, _ = book_callback(_draft())
    outbox.spool(_draft(sender="rest-b", key="k2"))  # the database was down for this one
    get_engine(f"sqlite:///{env / 'tracker.db'}")  # the same file as the tracker store
    tracker = sqlite3.connect(env / "tracker.db")
    tracker.execute(
        "create table events (id integer primary key, sender_id text, type_name text,"
        " timestamp real, intent_name text, action_name text, data text)"
    )
    event = json.dumps({"event": "user", "text": "息子が部屋から出てきません"}, ensure_ascii=False)
    tracker.executemany(
        "insert into events (sender_id, type_name, data) values ('rest-a', 'user', ?)",
        [(crypto.encrypt(event),), (event,)],
    )  # one encrypted, one from before encryption
    tracker.commit()

    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", f"{new_key},{old_key}")
    crypto.reset_keys()
    assert key_rotation.main(["rotate"]) == 0
    monkeypatch.setenv("MADOGUCHI_FERNET_KEYS", new_key)  # the old key removed after rotation
    crypto.reset_keys()

    assert get_ticket(ticket.id).phone == "+819011112222"
    assert outbox.flush(force=True) == 1  # the spooled draft still decrypts and is stored
    rows = [d for (d,) in tracker.execute("select data from events order by id")]
    assert [json.loads(crypto.decrypt(d))["text"] for d in rows] == ["息子が部屋から出てきません"] * 2
    assert not any("息子" in d for d in rows)


# --- private files (finding 8) ----------------------------------------------------------------
def test_var_dir_and_databases_are_private_whatever_the_umask(tmp_path, monkeypatch):
    var = tmp_path / "fresh" / "var"
    code = (
        "import os; os.umask(0o022)\n"
        "from bot.store.db import get_engine, session_scope\n"
        "from bot.store.tickets import record_consent\n"
        "with session_scope() as s: record_consent(s, 'rest-a', 'callback_summary', True)\n"
        "from bot.security.pseudonym import pseudonymize; pseudonymize('rest', 'x')\n"
        "from bot.rasa_plugins.tracker_store import EncryptedSQLTrackerStore; EncryptedSQLTrackerStore()\n"
        "open(os.path.join(os.environ['MADOGUCHI_VAR_DIR'], 'later.log'), 'w').close()\n"
    )
    run_env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "MADOGUCHI_VAR_DIR": str(var),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=run_env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert stat.S_IMODE(var.stat().st_mode) == 0o700
    files = sorted(p.name for p in var.iterdir())
    assert {"madoguchi.db", "tracker.db", "sender.key", "fernet.key", "later.log"} <= set(files)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in var.iterdir() if p.is_file()}
    assert all(mode == 0o600 for mode in modes.values()), modes


def test_an_existing_var_dir_is_made_private(tmp_path, monkeypatch):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    monkeypatch.setenv("MADOGUCHI_VAR_DIR", str(var))
    from bot.security.keys import var_dir

    assert stat.S_IMODE(var_dir().stat().st_mode) == 0o700


def test_makefile_runs_the_stacks_with_umask_077():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("run:", "run-production:"):
        recipe = makefile.split(f"\n{target}", 1)[1].split("\n\n", 1)[0]
        assert "umask 077;" in recipe, target


# --- an older production.env gets the keys it lacks, never new values ---------------------------
def test_local_env_adds_missing_keys_and_keeps_every_value(tmp_path):
    path = tmp_path / "production.env"
    path.write_text("MADOGUCHI_SENDER_KEY=keep-me\nMADOGUCHI_FERNET_KEYS=keep-too\nLB_PORT=9999\n", encoding="utf-8")
    assert local_env.main([str(path)]) == 0
    values = dict(
        line.split("=", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    assert values["MADOGUCHI_SENDER_KEY"] == "keep-me" and values["MADOGUCHI_FERNET_KEYS"] == "keep-too"
    assert values["LB_PORT"] == "9999"
    assert values["MADOGUCHI_ENV"] == "production"
    assert len(values["MADOGUCHI_STATS_KEY"]) == 64 and len(values["MADOGUCHI_STAFF_SECRET"]) == 64
    before = path.read_text(encoding="utf-8")
    assert local_env.main([str(path)]) == 0
    assert path.read_text(encoding="utf-8") == before
