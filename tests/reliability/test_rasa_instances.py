"""Two Rasa processes on the same stores: one webhook event delivered to both is handled once
(the dedup key is claimed in the shared database), and when the first process dies mid-
conversation (SIGKILL), a fresh process continues the conversation from the SQL tracker store
with every slot kept — which is all a restart does. Runs last among the stack tests that use
the first Rasa: afterwards the second process is the stack's Rasa."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, List, Tuple

import pytest

from tests.reliability.helpers import (
    ReliabilityStack,
    http_post,
    line_body,
    line_event,
    line_sign,
    line_user,
    post_telegram,
    replies_for,
    texts,
    tg_sends,
    tg_update,
    wait_for,
)

pytestmark = pytest.mark.stack


def at_once(*calls: Any) -> List[Tuple[int, Any]]:
    """Run the calls in threads released together; returns their results in order."""
    barrier = threading.Barrier(len(calls))
    results: List[Any] = [None] * len(calls)

    def run(i: int, call: Any) -> None:
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def user_texts(stack: ReliabilityStack, sender_id: str) -> List[str]:
    return [e.get("text") for e in stack.tracker(sender_id)["events"] if e["event"] == "user"]


@pytest.fixture(scope="module")
def second(rstack: ReliabilityStack) -> int:
    return rstack.wait_second_rasa()


def test_one_line_event_sent_to_two_rasa_instances_at_once_is_handled_once(
    rstack: ReliabilityStack, second: int
) -> None:
    user = line_user()
    rstack.line(user, "こんにちは")  # known user, so both instances would answer
    event = line_event(user, "母です")
    body = line_body(event)
    headers = {"Content-Type": "application/json", "X-Line-Signature": line_sign(body)}
    first_url, second_url = rstack.rasa_url, f"http://127.0.0.1:{second}"
    statuses = at_once(
        lambda: http_post(f"{first_url}/webhooks/line/webhook", body, headers),
        lambda: http_post(f"{second_url}/webhooks/line/webhook", body, headers),
    )
    assert [s for s, _ in statuses] == [200, 200]
    wait_for(lambda: replies_for(rstack.fake, event["replyToken"]), 60, what="the reply")
    time.sleep(3)  # room for a second, duplicate turn to show up
    assert len(replies_for(rstack.fake, event["replyToken"])) == 1
    assert user_texts(rstack, rstack.sender("line", user)) == ["こんにちは", "母です"]


def test_one_telegram_update_sent_to_two_rasa_instances_at_once_is_handled_once(
    rstack: ReliabilityStack, second: int
) -> None:
    chat = int(uuid.uuid4().int % 10**9) + 10**9
    update = tg_update(chat, "こんにちは")
    statuses = at_once(
        lambda: post_telegram(rstack.rasa_url, update), lambda: post_telegram(f"http://127.0.0.1:{second}", update)
    )
    assert [s for s, _ in statuses] == [200, 200]
    wait_for(lambda: tg_sends(rstack.fake, chat), 60, what="the answer")
    time.sleep(3)
    assert user_texts(rstack, rstack.sender("telegram", str(chat))) == ["こんにちは"]


def test_rasa_killed_mid_conversation_the_next_message_continues_with_slots_kept(
    rstack: ReliabilityStack, second: int
) -> None:
    sender = f"rel-{uuid.uuid4().hex[:10]}"
    sender_id = rstack.sender("rest", sender)
    rstack.say(sender, "こんにちは")
    rstack.say(sender, "母です")
    assert "いまの様子" in texts(rstack.say(sender, "４５歳です"))
    rstack.kill("rasa")  # crash: no shutdown hooks, the in-memory lock store is gone with it
    reply = rstack.say_at(second, sender, "大学を中退してから二十年近く部屋から出てきません")
    assert "助かりそう" in texts(reply), texts(reply)  # the next question, not the first one again
    rstack.promote(second)
    slots = rstack.slots(sender_id)
    assert slots["relation"] == "family" and slots["age_min"] == 45 and slots["situation"]
    assert user_texts(rstack, sender_id)[-1].startswith("大学を中退")
