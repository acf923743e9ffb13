"""A signed LINE event older than the dedup window is dropped (issue 21, Low: no freshness check
on LINE events after the dedup window).

Dedup remembers an event's ``webhookEventId`` for ``channels.base.DEDUP_TTL`` (24 h), then the
hourly purge forgets it. Before the fix, a captured request (valid signature, it cannot be
changed) sent again after that was a new turn: the person's words taken again, a callback
booked twice. Now an event whose own ``timestamp`` is older than the window is logged and
dropped, and the webhook still answers 200 as LINE expects.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict

import pytest

from bot import clock
from bot.store.channel_state import purge_processed
from bot.store.models import ProcessedEvent
from channels.base import DEDUP_TTL
from tests.channels import test_line
from tests.channels.fake_api import FakeApi
from tests.channels.test_line import body_of, count, harness, sign

#: LINE's own sample, as the official SDK ships it (timestamp 1462629479859: May 2016).
OFFICIAL = Path("/work/shared/fixtures/line_v3_event00_message_text_user.json")
WINDOW = DEDUP_TTL.total_seconds()


def official_event() -> Dict[str, Any]:
    if OFFICIAL.exists():
        return json.loads(OFFICIAL.read_text(encoding="utf-8"))["events"][0]
    return test_line.load_fixture("line_text_message.json")["events"][0]


def aged(event: Dict[str, Any], seconds: float) -> Dict[str, Any]:
    e = copy.deepcopy(event)
    e["timestamp"] = int((time.time() - seconds) * 1000)
    return e


async def test_the_official_sample_sent_years_later_is_dropped_with_200(
    fake: FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    event = official_event()
    assert time.time() - event["timestamp"] / 1000 > WINDOW  # a real, signed-looking, old event
    async with harness(fake) as h:
        body = body_of(event)
        with caplog.at_level("INFO"):
            status, answer = await h.post(body, {"X-Line-Signature": sign(body)})
            await h.line.drain()
    assert status == 200 and answer == {"status": "ok"}
    assert h.rasa.messages == [] and fake.calls == []
    assert count(ProcessedEvent) == 0
    assert "older than the dedup window" in caplog.text
    assert event["message"]["text"] not in caplog.text


async def test_a_replay_after_dedup_forgot_the_event_is_dropped(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    event = aged(test_line.text_event("一度だけ届くはずの言葉"), WINDOW - 60)
    body = body_of(event)  # the captured request: the same bytes, the same signature
    async with harness(fake) as h:
        await h.send(event)  # 23 h 59 min old: still handled
        assert h.rasa.texts == ["一度だけ届くはずの言葉"] and count(ProcessedEvent) == 1
        # Two hours later the hourly purge has forgotten its claim, and the request comes again.
        assert purge_processed(timedelta(0)) == 1
        later = time.time() + 2 * 3600
        monkeypatch.setattr(clock, "wall_timestamp", lambda: later)
        status, _ = await h.post(body, {"X-Line-Signature": sign(body)})
        await h.line.drain()
    assert status == 200
    assert h.rasa.texts == ["一度だけ届くはずの言葉"]
    assert count(ProcessedEvent) == 0


async def test_an_event_inside_the_window_is_still_handled(fake: FakeApi) -> None:
    async with harness(fake) as h:
        await h.send(aged(test_line.text_event("遅れて届いた"), WINDOW - 3600))
        await h.send(test_line.text_event("いま"))
    assert h.rasa.texts == ["遅れて届いた", "いま"]
