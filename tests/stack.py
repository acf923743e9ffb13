"""Start the real stack (action server + Rasa) on free 127.0.0.1 ports for integration tests."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testing.children import spawn, stop
from testing.common import base_env, free_port, newest_model, wait_http

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    endpoints: Path | None = None

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def write_endpoints(self, extra: str = "") -> Path:
        path = self.workdir / "endpoints.yml"
        path.write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{self.actions_port}/webhook\n"
            # As endpoints.yml: the encrypted store, on MADOGUCHI_TRACKER_DB_URL (stack_env).
            "tracker_store:\n  type: bot.rasa_plugins.tracker_store.EncryptedSQLTrackerStore\n"
            f"lock_store:\n  type: in_memory\n{extra}",
            encoding="utf-8",
        )
        self.endpoints = path
        return path

    def start_actions(self) -> None:
        self.launch_actions()
        self.wait_actions()

    def launch_actions(self) -> None:
        log = open(self.workdir / "actions.log", "ab")
        self.procs["actions"] = spawn(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.actions_port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_actions(self) -> None:
        wait_http(f"http://127.0.0.1:{self.actions_port}/health", 60)

    def start_rasa(self, credentials: Path | None = None) -> None:
        self.launch_rasa(credentials)
        self.wait_rasa()

    def launch_rasa(self, credentials: Path | None = None) -> None:
        """Start Rasa without waiting for it: tests/conftest.py starts the shared stack this way
        when the session begins, so that it loads while the tests before its first user run."""
        log = open(self.workdir / "rasa.log", "ab")
        cmd = [
            str(ROOT / ".venv" / "bin" / "rasa"),
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            str(self.rasa_port),
            "-m",
            str(newest_model()),
            "--endpoints",
            str(self.endpoints or self.write_endpoints()),
            "--credentials",
            str(credentials or ROOT / "credentials.yml"),
        ]
        self.procs["rasa"] = spawn(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def wait_rasa(self) -> None:
        wait_http(f"{self.rasa_url}/", 420)  # GiNZA + TensorFlow load slowly on a busy 2-core machine

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc:
            stop(proc)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def say(self, sender: str, text: str, timeout: float = 30) -> list[dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
        req = urllib.request.Request(
            f"{self.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def tracker_db_dump(self) -> list[tuple]:
        """Every stored tracker event row as stored (`data` encrypted), to check what is kept."""
        import sqlite3

        con = sqlite3.connect(self.workdir / "tracker.db")
        try:
            return con.execute("select sender_id, type_name, data from events").fetchall()
        finally:
            con.close()

    def tracker(self, sender_id: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.rasa_url}/conversations/{sender_id}/tracker", timeout=10) as resp:
            return json.loads(resp.read())


def stack_env(workdir: Path, **overrides: str) -> dict[str, str]:
    """testing.common.base_env with this stack's own files and no channel credentials."""
    return base_env(
        **{
            "MADOGUCHI_VAR_DIR": str(workdir),
            "MADOGUCHI_DB_URL": f"sqlite:///{workdir / 'madoguchi.db'}",
            "MADOGUCHI_TRACKER_DB_URL": f"sqlite:///{workdir / 'tracker.db'}",
            "LINE_CHANNEL_SECRET": "",
            "LINE_CHANNEL_ACCESS_TOKEN": "",
            "LINE_API_BASE_URL": "",
            "TELEGRAM_BOT_TOKEN": "",
            "TELEGRAM_SECRET_TOKEN": "",
            "TELEGRAM_API_BASE_URL": "",
            **overrides,
        }
    )


def texts(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def buttons(messages: list[dict[str, Any]]) -> list[str]:
    return [b["title"] for m in messages for b in m.get("buttons", [])]


def custom(messages: list[dict[str, Any]], key: str) -> list[Any]:
    return [m["custom"][key] for m in messages if isinstance(m.get("custom"), dict) and key in m["custom"]]


def open_sealed(var_dir: Path, token: str) -> str:
    """A value sealed at rest (bot.store.sealed, issue 21 M-2), opened with that stack's own keys:
    tests read the database file as an auditor would, and decrypt only what they must."""
    from cryptography.fernet import Fernet, MultiFernet

    keys = (Path(var_dir) / "fernet.key").read_text().strip().split(",")
    return MultiFernet([Fernet(k) for k in keys]).decrypt(token.encode()).decode()
