"""The action server dies mid-conversation (SIGKILL): every channel still answers the same turn
with the apology, the 24-hour lines and the city's window; once it is back, the conversation
goes on from where it was, nothing asked twice."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from channels.fallback import unavailable_text
from tests.reliability.helpers import (
    UNAVAILABLE,
    YORISOI,
    ReliabilityStack,
    line_event,
    line_texts,
    line_user,
    post_line,
    post_telegram,
    replies_for,
    texts,
    tg_sends,
    tg_update,
    wait_for,
)

pytestmark = pytest.mark.stack

FAILED = "Failed to run custom action"
ANCHOR = next(line for line in unavailable_text().splitlines() if line.startswith("三原市の窓口"))


def assert_gentle_fallback(said: str) -> None:
    assert UNAVAILABLE in said and YORISOI in said and ANCHOR in said, said
    assert "Traceback" not in said and "Error" not in said


def tg_turn(stack: ReliabilityStack, chat_id: int, text: str, timeout: float = 90) -> str:
    """One Telegram message; returns every text sent back for it."""
    before = len(tg_sends(stack.fake, chat_id))
    update = tg_update(chat_id, text)
    assert post_telegram(stack.rasa_url, update)[0] == 200
    wait_for(lambda: len(tg_sends(stack.fake, chat_id)) > before, timeout, what=f"Telegram answer to {text!r}")
    time.sleep(1.0)  # a turn can be several sendMessage calls
    return "\n".join(str(c.params.get("text", "")) for c in tg_sends(stack.fake, chat_id)[before:])


class ActionServerDown:
    """SIGKILL the action server for the duration of a ``with`` block, then start it again."""

    def __init__(self, stack: ReliabilityStack) -> None:
        self.stack = stack

    def __enter__(self) -> None:
        self.stack.kill("actions")

    def __exit__(self, *exc: object) -> None:
        self.stack.start_actions()


def test_rest_answers_while_the_action_server_is_down_then_resumes_with_slots_kept(rstack: ReliabilityStack) -> None:
    rest = f"rel-{uuid.uuid4().hex[:10]}"
    rstack.say(rest, "こんにちは")
    assert "年齢" in texts(rstack.say(rest, "母です"))  # midway through the intake
    with ActionServerDown(rstack):
        assert_gentle_fallback(texts(rstack.say(rest, "４５歳です")))
        assert_gentle_fallback(texts(rstack.say(f"rel-{uuid.uuid4().hex[:10]}", "はじめまして")))  # a new person
    # Back: the same answer now moves on, and what was said before the outage is kept.
    assert "いまの様子" in texts(rstack.say(rest, "４５歳です"))
    slots = rstack.slots(rstack.sender("rest", rest))
    assert slots["relation"] == "family" and slots["age_min"] == 45


def test_line_conversation_resumes_after_the_action_server_comes_back(rstack: ReliabilityStack) -> None:
    line = line_user()
    rstack.line(line, "こんにちは")
    assert "年齢" in rstack.line(line, "母です")
    failures = rstack.log().count(FAILED)
    with ActionServerDown(rstack):
        event = line_event(line, "４５歳です")
        assert post_line(rstack.rasa_url, event)[0] == 200
        wait_for(lambda: rstack.log().count(FAILED) > failures, 30, what="the failed turn")
        time.sleep(2)  # the rest of that turn fails the same way
    assert "いまの様子" in rstack.line(line, "４５歳です")
    slots = rstack.slots(rstack.sender("line", line))
    assert slots["relation"] == "family" and slots["age_min"] == 45


def test_line_answers_the_same_turn_while_the_action_server_is_down(rstack: ReliabilityStack) -> None:
    line = line_user()
    rstack.line(line, "こんにちは")
    with ActionServerDown(rstack):
        event = line_event(line, "母です")
        assert post_line(rstack.rasa_url, event)[0] == 200
        calls = wait_for(lambda: replies_for(rstack.fake, event["replyToken"]), 10, what="LINE answer")
        assert_gentle_fallback(line_texts(calls[0].json["messages"]))


def test_telegram_answers_the_same_turn_while_the_action_server_is_down(rstack: ReliabilityStack) -> None:
    chat = int(uuid.uuid4().int % 10**9) + 10**9
    tg_turn(rstack, chat, "こんにちは")
    with ActionServerDown(rstack):
        assert_gentle_fallback(tg_turn(rstack, chat, "母です", timeout=10))


def _idle_then_request(port: int, idle: float) -> str:
    """Open a connection, say nothing for ``idle`` seconds, then send a request: what comes back."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        time.sleep(idle)
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = sock.recv(200).split(b"\r\n")[0].decode()
        except OSError as exc:
            return type(exc).__name__
    return status or "closed"


def test_a_busy_rasa_loses_action_calls_unless_the_action_server_waits_longer(tmp_path: Any) -> None:
    """Rasa opens a new connection for every action call. When its event loop is busy with NLU
    for more than Sanic's keep-alive timeout (5 s) between connecting and writing — which the
    soak saw on a loaded machine — the action server has already closed the connection and the
    call fails («Can not write request body»). SANIC_KEEP_ALIVE_TIMEOUT on the action server
    lifts that limit (proposal P5 in docs/reliability.md)."""
    import subprocess
    import sys

    from testing.children import spawn, stop
    from tests.stack import ROOT, free_port, stack_env, wait_http

    seen = {}
    # "default" is Sanic's own 5 s; "60 s" is what deploy/serving.env gives every stack.
    for label, extra in (("default", {"SANIC_KEEP_ALIVE_TIMEOUT": "5"}), ("60 s", {})):
        port = free_port()
        proc = spawn(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)],
            cwd=ROOT,
            env=stack_env(tmp_path, **extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/health", 120)
            seen[label] = (_idle_then_request(port, 1), _idle_then_request(port, 7))
        finally:
            stop(proc)
    assert seen["default"][0].endswith("200 OK") and not seen["default"][1].endswith("200 OK")
    assert seen["60 s"] == ("HTTP/1.1 200 OK", "HTTP/1.1 200 OK")
