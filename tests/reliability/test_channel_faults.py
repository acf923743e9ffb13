"""LINE and Telegram API failures against the real stack (the platform is the fake API server):
5xx and 429 are retried with backoff (Retry-After honoured), timeouts too; pushes keep one
X-Line-Retry-Key across retries; when retries run out the failure is logged and counted and the
next message works. Redeliveries are handled once; a burst from one person keeps its order."""

from __future__ import annotations

import socket
import time
import uuid
from typing import List

import pytest

from channels import common
from tests.reliability.helpers import (
    ReliabilityStack,
    answered,
    line_body,
    line_event,
    line_sign,
    line_texts,
    line_user,
    post_line,
    post_telegram,
    pushes_to,
    replies_for,
    tg_sends,
    tg_update,
    wait_for,
)

pytestmark = pytest.mark.stack

REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"


@pytest.fixture(autouse=True)
def clean_scripts(rstack: ReliabilityStack) -> None:
    rstack.fake.clear_scripts()
    yield
    rstack.fake.clear_scripts()


def known_line_user(stack: ReliabilityStack) -> str:
    user = line_user()
    stack.line(user, "こんにちは")
    return user


def send(stack: ReliabilityStack, event: dict) -> None:
    assert post_line(stack.rasa_url, event)[0] == 200


def test_line_reply_5xx_is_retried_until_it_goes_through(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    rstack.fake.script(REPLY, 500, {"message": "Internal error"}, times=2)
    event = line_event(user, "母です")
    send(rstack, event)
    calls = wait_for(
        lambda: (
            len(replies_for(rstack.fake, event["replyToken"])) >= 3 and replies_for(rstack.fake, event["replyToken"])
        ),
        60,
        what="three reply attempts",
    )
    time.sleep(1)
    assert len(replies_for(rstack.fake, event["replyToken"])) == 3  # 2 failures, 1 success, no more
    assert "年齢" in line_texts(calls[-1].json["messages"])
    assert calls[0].json == calls[-1].json  # the same answer, not a new turn


def test_line_429_waits_for_retry_after(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    rstack.fake.script(
        REPLY, 429, {"message": "The API rate limit has been exceeded."}, headers={"Retry-After": "2"}, times=1
    )
    event = line_event(user, "母です")
    send(rstack, event)
    calls = wait_for(
        lambda: (
            len(replies_for(rstack.fake, event["replyToken"])) >= 2 and replies_for(rstack.fake, event["replyToken"])
        ),
        60,
        what="the retried reply",
    )
    assert calls[1].at - calls[0].at >= 2.0


def test_line_timeouts_are_retried(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    rstack.fake.script(REPLY, 200, {}, delay=3.0, times=1)  # LINE_HTTP_TIMEOUT is 2 s in the stack
    event = line_event(user, "母です")
    send(rstack, event)
    calls = wait_for(
        lambda: (
            len(replies_for(rstack.fake, event["replyToken"])) >= 2 and replies_for(rstack.fake, event["replyToken"])
        ),
        60,
        what="the retried reply",
    )
    assert "年齢" in line_texts(calls[-1].json["messages"])


def test_line_push_retries_keep_one_retry_key(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    rstack.fake.script(PUSH, 500, {"message": "Internal error"}, times=2)
    event = line_event(user, "母です", age=60)  # its reply token has expired: the answer is pushed
    send(rstack, event)
    pushes = wait_for(
        lambda: len(pushes_to(rstack.fake, user)) >= 3 and pushes_to(rstack.fake, user), 60, what="three push attempts"
    )
    keys = {c.header("X-Line-Retry-Key") for c in pushes}
    assert len(keys) == 1 and None not in keys
    assert not replies_for(rstack.fake, event["replyToken"])
    assert "年齢" in line_texts(pushes[-1].json["messages"])


def test_line_gives_up_after_bounded_retries_logs_it_and_the_next_message_works(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    given_up = rstack.log().count("line reply failed for good")
    rstack.fake.script(REPLY, 500, {"message": "Internal error"}, times=50)
    event = line_event(user, "母です")
    send(rstack, event)
    wait_for(lambda: rstack.log().count("line reply failed for good") > given_up, 60, what="the give-up log line")
    attempts = len(replies_for(rstack.fake, event["replyToken"]))
    assert attempts == 4  # RetryPolicy.attempts: bounded, no retry storm
    rstack.fake.clear_scripts()
    assert "いまの様子" in rstack.line(user, "４５歳です")  # the stack is fine and the turn was not lost


def test_telegram_429_and_5xx_are_retried_and_giving_up_is_logged(rstack: ReliabilityStack) -> None:
    chat = int(uuid.uuid4().int % 10**9) + 10**9
    rstack.fake.script(
        "/sendMessage",
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
        times=1,
    )
    assert post_telegram(rstack.rasa_url, tg_update(chat, "こんにちは"))[0] == 200
    sends = wait_for(
        lambda: len(tg_sends(rstack.fake, chat)) >= 2 and tg_sends(rstack.fake, chat),
        60,
        what="the retried sendMessage",
    )
    assert sends[1].at - sends[0].at >= 1.0
    time.sleep(1.5)
    given_up = rstack.log().count("telegram sendMessage failed for good")
    rstack.fake.script("/sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, times=50)
    before = len(tg_sends(rstack.fake, chat))
    assert post_telegram(rstack.rasa_url, tg_update(chat, "母です"))[0] == 200
    wait_for(
        lambda: rstack.log().count("telegram sendMessage failed for good") > given_up, 60, what="the give-up log line"
    )
    assert len(tg_sends(rstack.fake, chat)) - before == 4
    rstack.fake.clear_scripts()
    before = len(tg_sends(rstack.fake, chat))
    assert post_telegram(rstack.rasa_url, tg_update(chat, "４５歳です"))[0] == 200
    wait_for(lambda: len(tg_sends(rstack.fake, chat)) > before, 60, what="the next answer")


def test_redelivered_line_event_is_handled_once(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    event = line_event(user, "母です")
    send(rstack, event)
    wait_for(lambda: replies_for(rstack.fake, event["replyToken"]), 60, what="the reply")
    again = dict(event, deliveryContext={"isRedelivery": True})
    send(rstack, again)
    send(rstack, again)
    time.sleep(3)
    assert len(answered(rstack.fake, event)) == 1
    events = rstack.tracker(rstack.sender("line", user))["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == ["こんにちは", "母です"]


def test_redelivery_of_an_event_never_seen_is_processed(rstack: ReliabilityStack) -> None:
    user = known_line_user(rstack)
    event = line_event(user, "母です", redelivery=True, age=120)  # LINE retried it after an outage
    send(rstack, event)
    wait_for(lambda: answered(rstack.fake, event), 60, what="the pushed answer")
    assert "年齢" in line_texts(answered(rstack.fake, event)[0].json["messages"])


def test_five_messages_within_100_ms_are_each_handled_once_in_order(rstack: ReliabilityStack) -> None:
    user = line_user()
    said = ["こんにちは", "母です", "４５歳です", "仕事をやめてから家から出られません", "居場所"]
    events = [line_event(user, text) for text in said]
    elapsed = post_burst(rstack.rasa_url, [line_body(e) for e in events])
    assert elapsed < 0.1, f"the burst took {elapsed * 1000:.0f} ms"
    wait_for(lambda: all(replies_for(rstack.fake, e["replyToken"]) for e in events), 120, what="five replies")
    time.sleep(2)
    assert [len(replies_for(rstack.fake, e["replyToken"])) for e in events] == [1] * 5
    user_events = [e["text"] for e in rstack.tracker(rstack.sender("line", user))["events"] if e["event"] == "user"]
    assert user_events == said
    replies = [replies_for(rstack.fake, e["replyToken"])[0] for e in events]
    assert [c.at for c in replies] == sorted(c.at for c in replies)  # answered in the order sent
    assert "ちゃんくす" in line_texts(replies[-1].json["messages"])  # the recommendation comes last


def post_burst(rasa_url: str, bodies: List[bytes]) -> float:
    """Send the signed webhook requests pipelined on one connection (HTTP/1.1): all of them
    leave within a millisecond or so and arrive in order, however busy the server is. Returns
    the seconds the sending took; every response must be 200."""
    host, port = rasa_url.rsplit("/", 1)[-1].split(":")
    wire = b"".join(
        b"POST /webhooks/line/webhook HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\nX-Line-Signature: " + line_sign(body).encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        for body in bodies
    )
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        started = time.monotonic()
        sock.sendall(wire)
        elapsed = time.monotonic() - started
        stream = sock.makefile("rb")
        for _ in bodies:  # read the answers, in order
            status = int(stream.readline().split()[1])
            length = 0
            while line := stream.readline().strip():
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            stream.read(length)
            assert status == 200, status
    return elapsed


def test_failures_are_counted_by_channel_and_operation() -> None:
    """What `record_failure` does in the Rasa process (the stack tests see its log line)."""
    common.FAILURES.clear()
    common.record_failure("line", "reply", "LineBotApiError")
    common.record_failure("line", "reply", "LineBotApiError")
    assert common.FAILURES["line.reply"] == 2
    common.FAILURES.clear()
