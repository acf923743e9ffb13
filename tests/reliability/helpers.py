"""Helpers for the fault tests: a real stack with LINE and Telegram on a fake platform API,
webhook builders that sign like LINE does, and waiting for what the platform received.

Nothing here mocks the processes: Rasa, the action server and the databases are the real ones;
only LINE's and Telegram's servers are replaced by `tests.channels.fake_api.FakeApi`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar

import pytest

from testing.children import spawn, stop
from tests.channels.fake_api import TELEGRAM_TOKEN, Call, FakeApi
from tests.stack import ROOT, Stack, free_port, newest_model, stack_env, wait_http

T = TypeVar("T")

# Monday 10:00 JST: inside business hours, so slots and staff notes are deterministic.
PINNED_NOW = "2026-11-30T10:00:00+09:00"
LINE_SECRET = "reliability-line-channel-secret"
LINE_TOKEN = "reliability-line-access-token"
TELEGRAM_SECRET = "reliability-tg-secret_token"
STAFF_CHAT = "-1001234567890"
YORISOI = "0120-279-338"
UNAVAILABLE = "うまくお返事できません"
RASA_START_TIMEOUT = float(os.environ.get("MADOGUCHI_RASA_START_TIMEOUT", "900"))


# --- waiting ------------------------------------------------------------------------------------
def wait_for(check: Callable[[], T], timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# --- the fake platform API on its own loop -------------------------------------------------------
class FakeApiThread:
    """`FakeApi` (aiohttp) served from a background event loop, for synchronous tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.api = FakeApi()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-api", daemon=True)

    def start(self) -> "FakeApiThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.api.start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.api.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    @property
    def base_url(self) -> str:
        return self.api.base_url

    # Scripting happens on the loop thread so that it never races a request being matched.
    def script(self, match: str, status: int, body: Any = None, **kw: Any) -> None:
        self.loop.call_soon_threadsafe(lambda: self.api.script(match, status, body, **kw))
        time.sleep(0.05)

    def clear_scripts(self) -> None:
        self.loop.call_soon_threadsafe(self.api._scripts.clear)
        time.sleep(0.05)

    def calls_to(self, match: str) -> List[Call]:
        return self.api.calls_to(match)


# --- LINE ----------------------------------------------------------------------------------------
def line_sign(body: bytes, secret: str = LINE_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def line_user() -> str:
    return "U" + uuid.uuid4().hex


def line_event(
    user_id: str,
    text: Optional[str] = None,
    *,
    etype: str = "message",
    event_id: Optional[str] = None,
    reply_token: Optional[str] = None,
    redelivery: bool = False,
    age: float = 0.0,
    postback: Optional[str] = None,
    message: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    event: Dict[str, Any] = {
        "type": etype,
        "mode": "active",
        "timestamp": int((time.time() - age) * 1000),
        "source": {"type": "user", "userId": user_id},
        "webhookEventId": event_id or uuid.uuid4().hex.upper()[:26],
        "deliveryContext": {"isRedelivery": redelivery},
    }
    if etype in ("message", "postback", "follow", "join"):
        event["replyToken"] = reply_token or uuid.uuid4().hex
    if etype == "message":
        event["message"] = message or {
            "id": str(int(time.time() * 1e6)),
            "type": "text",
            "text": text or "",
            "quoteToken": "q",
        }
    if etype == "postback":
        event["postback"] = {"data": postback or ""}
    return event


def line_body(*events: Dict[str, Any]) -> bytes:
    return json.dumps({"destination": "Ubot", "events": list(events)}, ensure_ascii=False).encode("utf-8")


def http_post(url: str, body: bytes, headers: Dict[str, str], timeout: float = 30) -> Tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def post_line(
    rasa_url: str,
    *events: Dict[str, Any],
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    sign: bool = True,
) -> Tuple[int, Any]:
    raw = body if body is not None else line_body(*events)
    h = {"Content-Type": "application/json; charset=utf-8"}
    if sign:
        h["X-Line-Signature"] = line_sign(raw)
    h.update(headers or {})
    return http_post(f"{rasa_url}/webhooks/line/webhook", raw, h)


def line_texts(messages: Iterable[Dict[str, Any]]) -> str:
    """Every text a person would see in LINE message objects (text, Flex alt text and body)."""
    out: List[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text" and isinstance(node.get("text"), str):
                out.append(node["text"])
            if isinstance(node.get("altText"), str):
                out.append(node["altText"])
            for key, value in node.items():
                if key not in ("text", "altText"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(list(messages))
    return "\n".join(out)


def replies_for(fake: FakeApiThread, reply_token: str) -> List[Call]:
    return [c for c in fake.calls_to("/v2/bot/message/reply") if (c.json or {}).get("replyToken") == reply_token]


def pushes_to(fake: FakeApiThread, user_id: str) -> List[Call]:
    return [c for c in fake.calls_to("/v2/bot/message/push") if (c.json or {}).get("to") == user_id]


def answered(fake: FakeApiThread, event: Dict[str, Any]) -> List[Call]:
    """Reply calls with the event's token, plus pushes keyed on its webhookEventId."""
    from channels.line import retry_key_for

    keys = {retry_key_for(event.get("webhookEventId"), i) for i in range(4)}
    token = event.get("replyToken")
    return [
        c
        for c in fake.api.calls
        if (c.path == "/v2/bot/message/reply" and (c.json or {}).get("replyToken") == token)
        or (c.path == "/v2/bot/message/push" and c.header("X-Line-Retry-Key") in keys)
    ]


def line_turn(rasa_url: str, fake: FakeApiThread, user_id: str, text: str, timeout: float = 90) -> str:
    """Send one LINE text message and wait for the reply; returns what the person sees."""
    event = line_event(user_id, text)
    status, _ = post_line(rasa_url, event)
    assert status == 200, status
    calls = wait_for(lambda: replies_for(fake, event["replyToken"]), timeout, what=f"LINE reply to {text!r}")
    return line_texts(calls[-1].json["messages"])


# --- Telegram ------------------------------------------------------------------------------------
_update_ids = iter(range(int(time.time()) % 100000 * 1000, 10**12))


def tg_update(chat_id: int, text: str, update_id: Optional[int] = None) -> Dict[str, Any]:
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "message": {
            "message_id": next(_update_ids) % 100000,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "T"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "T"},
            "text": text,
        },
    }


def post_telegram(rasa_url: str, update: Dict[str, Any], secret: str = TELEGRAM_SECRET) -> Tuple[int, Any]:
    return http_post(
        f"{rasa_url}/webhooks/telegram/webhook",
        json.dumps(update, ensure_ascii=False).encode(),
        {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )


def tg_sends(fake: FakeApiThread, chat_id: int) -> List[Call]:
    return [
        c for c in fake.calls_to(f"/bot{TELEGRAM_TOKEN}/sendMessage") if str(c.params.get("chat_id")) == str(chat_id)
    ]


# --- the stack ---------------------------------------------------------------------------------------
def pseudonym(key: str, channel: str, platform_id: str) -> str:
    """`bot.security.pseudonym.pseudonymize` with an explicit key (the test process keeps its own env)."""
    digest = hmac.new(key.encode(), f"{channel}:{platform_id}".encode(), hashlib.sha256)
    return f"{channel}-{digest.hexdigest()[:32]}"


class ReliabilityStack(Stack):
    """`tests.stack.Stack` with LINE + Telegram on the fake API, fixed keys shared with the
    test process, a fast outbox retry, long start-up patience (the machine is shared), and
    helpers to run a second Rasa instance and to kill processes the hard way."""

    def __init__(self, workdir: Path, fake: FakeApiThread, **extra_env: str) -> None:
        from cryptography.fernet import Fernet

        self.fake = fake
        self.sender_key = uuid.uuid4().hex
        self.fernet_key = Fernet.generate_key().decode()
        super().__init__(workdir=workdir, env={})
        self.env = stack_env(
            workdir,
            MADOGUCHI_NOW=PINNED_NOW,
            MADOGUCHI_SENDER_KEY=self.sender_key,
            MADOGUCHI_FERNET_KEYS=self.fernet_key,
            MADOGUCHI_RASA_URL=self.rasa_url,
            MADOGUCHI_OUTBOX_INTERVAL="0.5",
            MADOGUCHI_OUTBOX_MAX_BACKOFF="2",
            LINE_CHANNEL_SECRET=LINE_SECRET,
            LINE_CHANNEL_ACCESS_TOKEN=LINE_TOKEN,
            LINE_API_BASE_URL=fake.base_url,
            LINE_HTTP_TIMEOUT="2",
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            TELEGRAM_SECRET_TOKEN=TELEGRAM_SECRET,
            TELEGRAM_API_BASE_URL=fake.base_url,
            TELEGRAM_HTTP_TIMEOUT="2",
            STAFF_TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            STAFF_TELEGRAM_CHAT_ID=STAFF_CHAT,
            **extra_env,
        )
        self.db_path = workdir / "madoguchi.db"
        self.extra_rasa: Dict[int, subprocess.Popen] = {}

    # -- processes -------------------------------------------------------------------------------
    def _rasa_cmd(self, port: int) -> List[str]:
        return [
            str(ROOT / ".venv" / "bin" / "rasa"),
            "run",
            "--enable-api",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-m",
            str(newest_model()),
            "--endpoints",
            str(self.endpoints or self.write_endpoints()),
            "--credentials",
            str(ROOT / "credentials.yml"),
        ]

    def spawn_rasa(self, port: int, log_name: str) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        return spawn(self._rasa_cmd(port), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def launch_rasa(self, credentials: Optional[Path] = None) -> None:
        self.procs["rasa"] = self.spawn_rasa(self.rasa_port, "rasa.log")

    def wait_rasa(self) -> None:  # longer patience
        wait_http(f"{self.rasa_url}/", RASA_START_TIMEOUT)

    def start_second_rasa(self) -> int:
        """Start (in the background) a second Rasa process on the same stores; returns its port."""
        if self.extra_rasa:
            return next(iter(self.extra_rasa))
        port = free_port()
        self.extra_rasa[port] = self.spawn_rasa(port, "rasa-b.log")
        return port

    def wait_second_rasa(self) -> int:
        port = self.start_second_rasa()
        wait_http(f"http://127.0.0.1:{port}/", RASA_START_TIMEOUT)
        return port

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, not a shutdown."""
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(15)

    def restart_actions(self, **env: str) -> None:
        self.stop("actions")
        self.env.update(env)
        self.start_actions()

    def promote(self, port: int) -> None:
        """Make the second Rasa instance the stack's Rasa (after the first one died)."""
        proc = self.extra_rasa.pop(port)
        self.kill("rasa")
        self.procs["rasa"] = proc
        self.rasa_port = port
        self.restart_actions(MADOGUCHI_RASA_URL=self.rasa_url)

    def stop_all(self) -> None:
        super().stop_all()
        for port, proc in list(self.extra_rasa.items()):
            stop(proc)
            self.extra_rasa.pop(port, None)

    # -- conversations ---------------------------------------------------------------------------
    def sender(self, channel: str, platform_id: str) -> str:
        return pseudonym(self.sender_key, channel, platform_id)

    def say_at(self, port: int, sender: str, text: str, timeout: float = 60) -> List[Dict[str, Any]]:
        body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def slots(self, sender_id: str) -> Dict[str, Any]:
        return self.tracker(sender_id).get("slots", {})

    def line(self, user_id: str, text: str, timeout: float = 90) -> str:
        return line_turn(self.rasa_url, self.fake, user_id, text, timeout)

    def log(self, name: str = "rasa.log") -> str:
        path = self.workdir / name
        return path.read_text("utf-8", "replace") if path.exists() else ""

    # -- storage -----------------------------------------------------------------------------------
    def tickets(self, sender_id: str, db: Optional[Path] = None) -> List[Tuple[Any, ...]]:
        import sqlite3

        con = sqlite3.connect(db or self.db_path, timeout=30)
        try:
            return con.execute(
                "select id, idempotency_key, contact_method, phone_enc, preferred_slot, situation_enc"
                " from callback_tickets where sender_id=? order by id",
                (sender_id,),
            ).fetchall()
        finally:
            con.close()

    def decrypt(self, token: Optional[str]) -> Optional[str]:
        from cryptography.fernet import Fernet

        return Fernet(self.fernet_key.encode()).decrypt(token.encode()).decode() if token else None


def texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m.get("text", "") for m in messages)


def slot_payload(messages: List[Dict[str, Any]], index: int = 0) -> str:
    payloads = [b["payload"] for m in messages for b in m.get("buttons", []) if "choose_slot" in b["payload"]]
    return payloads[index]


def book_over_rest(
    stack: ReliabilityStack,
    sender: str,
    phone: str = "０９０ー１２３４ー５６７８",
    say: Optional[Callable[[str, str], List[Dict[str, Any]]]] = None,
) -> List[Dict[str, Any]]:
    """Walk the callback form over REST up to (not including) the final 「はい」.

    Returns the summary turn's reply; the caller sends the confirmation.
    """
    say = say or stack.say
    say(sender, "電話で相談したいです")
    say(sender, "はい")  # consent
    reply = say(sender, "電話で")
    if "お電話番号" in texts(reply):
        reply = say(sender, phone)
    reply = say(sender, slot_payload(reply))
    return say(sender, "/skip")


# --- database faults -------------------------------------------------------------------------------
class ExclusiveLock:
    """Another connection holding SQLite's write lock, as a long migration or a stuck process would."""

    def __init__(self, path: Path) -> None:
        self.con = sqlite3.connect(path, isolation_level=None, timeout=1)

    def __enter__(self) -> "ExclusiveLock":
        self.con.execute("BEGIN EXCLUSIVE")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.con.execute("ROLLBACK")
        self.con.close()


def _pg_admin() -> Any:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        con = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    except Exception as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 not available: {type(exc).__name__}")
    con.autocommit = True
    return con


class PgDatabase:
    """A throwaway database that can be made unavailable (and back) without touching the server."""

    def __init__(self) -> None:
        self.admin = _pg_admin()
        self.name = f"madoguchi_rel_{uuid.uuid4().hex[:10]}"
        with self.admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.name}"')

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.name}"

    def down(self) -> None:
        with self.admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,))

    def up(self) -> None:
        with self.admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        self.down()
        with self.admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}"')
        self.admin.close()
