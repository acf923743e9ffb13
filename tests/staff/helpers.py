"""Helpers for the staff app tests: booking tickets, logging in, CSRF tokens, fakes."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from flask.testing import FlaskClient

from bot.store.db import session_scope
from bot.store.tickets import TicketDraft, TicketView, book_callback, record_consent
from tests.channels.fake_api import FakeApi

PASSWORD = "correct-horse-battery-staple"
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
_counter = iter(range(1, 1_000_000))


def csrf_token(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "no csrf_token in the page"
    return m.group(1) or m.group(2)


def login(client: FlaskClient, username: str, password: str = PASSWORD, *, next_url: str = "") -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": next_url, "csrf_token": csrf_token(page.text)},
    )


def post(client: FlaskClient, path: str, data: dict[str, Any], *, token_from: str = "/") -> Any:
    """POST with a CSRF token taken from a page of the same session."""
    token = csrf_token(client.get(token_from).text)
    return client.post(path, data={**data, "csrf_token": token})


def claim(client: FlaskClient, ticket_id: int) -> None:
    """Become the ticket's assignee (who sees its phone number and may reply)."""
    page = f"/tickets/{ticket_id}"
    assert post(client, f"{page}/claim", {}, token_from=page).status_code == 302


def book(sender: str | None = None, **fields: Any) -> TicketView:
    sender = sender or f"rest-{next(_counter):032x}"
    with session_scope() as s:
        record_consent(s, sender, "callback_summary", True)
    values: dict[str, Any] = dict(
        sender_id=sender,
        channel="rest",
        conversation_key=f"k{next(_counter)}",
        contact_method="chat",
        consent_at=datetime.now(timezone.utc),
    )
    values.update(fields)
    ticket, created = book_callback(TicketDraft(**values))
    assert created
    return ticket


# --- a fake Rasa HTTP API -------------------------------------------------------------------------
@dataclass
class FakeRasa:
    """Answers /conversations/<id>/tracker and /trigger_intent like Rasa; records requests."""

    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    status: int = 200
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeRasa":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, None))
                sender = self.path.split("/")[2]
                self._answer({"sender_id": sender, "events": fake.events.get(sender, [])})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                fake.requests.append(("POST", self.path, body))
                self._answer({"tracker": {}, "messages": []})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- the fake Telegram Bot API, on its own event loop thread ---------------------------------------
class ThreadedFakeApi:
    """tests.channels.fake_api.FakeApi served from a background loop, so synchronous code
    (bot.services.notify.deliver_pending runs asyncio.run itself) can call it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.api = FakeApi()

    def __enter__(self) -> FakeApi:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.api.start(), self.loop).result(10)
        return self.api

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self.api.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def iter_csv(body: bytes) -> Iterator[list[str]]:
    import csv
    import io

    assert body.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM"
    yield from csv.reader(io.StringIO(body.decode("utf-8-sig")))
