"""The real stack for the bench: action server + Rasa (LINE channel on) on free 127.0.0.1 ports.

Like tests/stack.py, but it times the cold start (process start → first answer of GET /)
and keeps the pids for RSS/CPU sampling and profiling.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Optional

from cryptography.fernet import Fernet

from testing.children import spawn, stop
from testing.common import ROOT, VENV_BIN, base_env, free_port, wait_http

LINE_SECRET = "bench-line-channel-secret"
LINE_TOKEN = "bench-line-access-token"


@dataclass
class BenchStack:
    #: Seconds Rasa may take to answer after start (the soak, on a shared machine, waits longer).
    rasa_start_timeout: ClassVar[float] = 300.0
    workdir: Path
    model: Path
    line_api_url: str
    endpoints_extra: str = ""
    endpoints_file: Optional[Path] = None  # e.g. deploy/endpoints.production.yml
    extra_env: dict[str, str] = field(default_factory=dict)
    rasa_port: int = field(default_factory=free_port)
    actions_port: int = field(default_factory=free_port)
    sender_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    fernet_keys: str = field(default_factory=lambda: Fernet.generate_key().decode())
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    cold_start: dict[str, float] = field(default_factory=dict)

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://127.0.0.1:{self.actions_port}"

    def env(self) -> dict[str, str]:
        env = base_env(
            MADOGUCHI_VAR_DIR=str(self.workdir),
            MADOGUCHI_DB_URL=f"sqlite:///{self.workdir / 'madoguchi.db'}",
            MADOGUCHI_TRACKER_DB_URL=f"sqlite:///{self.workdir / 'tracker.db'}",
            MADOGUCHI_SENDER_KEY=self.sender_key,
            MADOGUCHI_FERNET_KEYS=self.fernet_keys,
            MADOGUCHI_NOW="2026-11-30T10:00:00+09:00",
            LINE_CHANNEL_SECRET=LINE_SECRET,
            LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
            LINE_API_BASE_URL=self.line_api_url,
            TELEGRAM_BOT_TOKEN="",
            TELEGRAM_SECRET_TOKEN="",
            TELEGRAM_API_BASE_URL="",
            ACTIONS_URL=f"http://127.0.0.1:{self.actions_port}/webhook",
            MADOGUCHI_ACTIONS_URL=f"http://127.0.0.1:{self.actions_port}/webhook",
        )
        env.update(self.extra_env)
        return env

    def endpoints(self) -> Path:
        if self.endpoints_file is not None:
            return self.endpoints_file
        path = self.workdir / "endpoints.yml"
        path.write_text(
            f"action_endpoint:\n  url: http://127.0.0.1:{self.actions_port}/webhook\n"
            # The shipped store (encrypted), on MADOGUCHI_TRACKER_DB_URL as set above.
            "tracker_store:\n  type: bot.rasa_plugins.tracker_store.EncryptedSQLTrackerStore\n"
            f"lock_store:\n  type: in_memory\n{self.endpoints_extra}",
            encoding="utf-8",
        )
        return path

    def start_actions(self) -> float:
        log = open(self.workdir / "actions.log", "ab")
        t0 = time.monotonic()
        proc = spawn(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(self.actions_port)],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs["actions"] = proc
        wait_http(f"{self.actions_url}/health", 120, proc)
        self.cold_start["actions_s"] = round(time.monotonic() - t0, 2)
        return self.cold_start["actions_s"]

    def start_rasa(self) -> float:
        log = open(self.workdir / "rasa.log", "ab")
        cmd = [
            str(VENV_BIN / "rasa"),
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            str(self.rasa_port),
            "-m",
            str(self.model),
            "--endpoints",
            str(self.endpoints()),
            "--credentials",
            str(ROOT / "credentials.yml"),
        ]
        t0 = time.monotonic()
        proc = spawn(cmd, cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        self.procs["rasa"] = proc
        wait_http(f"{self.rasa_url}/", self.rasa_start_timeout, proc)
        self.cold_start["rasa_s"] = round(time.monotonic() - t0, 2)
        return self.cold_start["rasa_s"]

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def stop(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc:
            stop(proc, grace=20)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)
