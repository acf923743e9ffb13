"""The e-mail notice never sends the SMTP login without TLS (issue 21, Low: SMTP that logged in
without TLS when STARTTLS was not there).

Python's real ``smtplib`` talks to a small SMTP server on 127.0.0.1 that offers AUTH but not
STARTTLS, as a relay without TLS does, or as anyone on the path does who removes STARTTLS from
the EHLO answer. Before the fix the notifier went on to ``AUTH PLAIN <base64 user and
password>`` in clear; now it refuses, logs why, and the row stays in the outbox with the error
and a backoff, like any failed delivery.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
from typing import Iterator

import pytest
from sqlalchemy import select

from bot.services.notify import NotificationOutbox, deliver_pending, enqueue_new_ticket
from bot.store.db import session_scope

PASSWORD = "p@ss-w0rd-for-the-relay"


class PlainSmtpServer:
    """Answers like a mail server without TLS; records every line it receives."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as io:
                io.write(b"220 relay.example ESMTP\r\n")
                io.flush()
                in_data = False
                for raw in io:
                    line = raw.decode("utf-8", "replace").rstrip("\r\n")
                    self.lines.append(line)
                    if in_data:
                        if line == ".":
                            in_data = False
                            io.write(b"250 queued\r\n")
                    elif line.upper().startswith("EHLO"):
                        io.write(b"250-relay.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n")
                    elif line.upper().startswith("AUTH"):
                        io.write(b"235 authenticated\r\n")
                    elif line.upper() == "DATA":
                        in_data = True
                        io.write(b"354 go ahead\r\n")
                    elif line.upper() == "QUIT":
                        io.write(b"221 bye\r\n")
                        io.flush()
                        break
                    else:
                        io.write(b"250 ok\r\n")
                    io.flush()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def relay() -> Iterator[PlainSmtpServer]:
    server = PlainSmtpServer()
    yield server
    server.close()


def rows() -> list[NotificationOutbox]:
    with session_scope() as s:
        return list(s.execute(select(NotificationOutbox)).scalars())


def test_no_login_in_clear_when_starttls_is_not_offered(
    relay: PlainSmtpServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STAFF_SMTP_URL", f"smtp://notify%40city:{PASSWORD}@127.0.0.1:{relay.port}")
    monkeypatch.setenv("STAFF_NOTIFY_EMAIL", "team@example.jp")
    enqueue_new_ticket(21, "normal", None, False)
    with caplog.at_level(logging.INFO):
        assert deliver_pending() == 0
    credentials = base64.b64encode(f"\0notify@city\0{PASSWORD}".encode()).decode()
    assert relay.lines, "the notifier never reached the server"
    assert not [line for line in relay.lines if line.upper().startswith("AUTH") or credentials in line]
    assert not [line for line in relay.lines if line.upper().startswith(("MAIL", "DATA"))]
    [row] = rows()
    assert row.sent_at is None and row.next_attempt_at is not None  # retried later, like any failure
    assert "InsecureSmtp" in (row.last_error or "") and PASSWORD not in (row.last_error or "")
    assert "without TLS" in caplog.text and PASSWORD not in caplog.text


def test_without_a_login_a_plain_relay_still_gets_the_notice(
    relay: PlainSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relay on this machine that needs no password: nothing secret crosses, the notice (no
    # personal data: number, priority, link) is sent.
    monkeypatch.setenv("STAFF_SMTP_URL", f"smtp://127.0.0.1:{relay.port}")
    monkeypatch.setenv("STAFF_NOTIFY_EMAIL", "team@example.jp")
    enqueue_new_ticket(22, "normal", None, False)
    assert deliver_pending() == 1
    assert [line for line in relay.lines if line.upper().startswith("MAIL FROM")]
    assert not [line for line in relay.lines if line.upper().startswith("AUTH")]
