"""The shared webhook connector (channels.base.WebhookInputChannel) as LINE and Telegram use it.

Both channels run their checks in one order: configured (503) → body size (413) → content type
(415) → authentication (401) → JSON and the platform's parsing (400) → queued (200). A request
with several faults is answered by the first check it fails, the same way on both, and nothing
of it is processed.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple

import aiohttp
import pytest

from bot.store.models import ChannelIdentity, ProcessedEvent
from channels import common
from channels.base import WebhookInputChannel
from channels.line import LineConfig, LineInput
from channels.telegram import TelegramConfig, TelegramInput
from tests.channels import test_line, test_telegram
from tests.channels.fake_api import FakeApi
from tests.channels.harness import RasaStub, serve

OVERSIZE = b'{"events": [], "pad": "' + b"x" * 1_000_001 + b'"}'
NOT_JSON = b'{"events": [ {'


def line_auth(body: bytes) -> Dict[str, str]:
    return {"X-Line-Signature": test_line.sign(body)}


def telegram_auth(_: bytes) -> Dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": test_telegram.SECRET}


CHANNELS: Dict[str, Tuple[Callable[[FakeApi], Any], Callable[[bytes], Dict[str, str]]]] = {
    "line": (lambda fake: LineInput(test_line.config_for(fake)), line_auth),
    "telegram": (lambda fake: TelegramInput(test_telegram.config_for(fake)), telegram_auth),
}


async def post(
    http: aiohttp.ClientSession, url: str, body: bytes, content_type: str, headers: Optional[Dict[str, str]] = None
) -> Tuple[int, Any]:
    async with http.post(url, data=body, headers={"Content-Type": content_type, **(headers or {})}) as resp:
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("name", list(CHANNELS))
async def test_the_first_failed_check_decides_on_both_channels(fake: FakeApi, name: str) -> None:
    make, auth = CHANNELS[name]
    channel, rasa = make(fake), RasaStub()
    cases = [
        # (what, body, content type, authenticated, expected status)
        ("oversize, wrong type, unauthenticated", OVERSIZE, "text/plain", False, 413),
        ("oversize, authenticated", OVERSIZE, "application/json", True, 413),
        ("wrong type, unauthenticated", b"{}", "text/plain", False, 415),
        ("wrong type, authenticated", b"{}", "text/plain", True, 415),
        ("unauthenticated, not JSON", NOT_JSON, "application/json", False, 401),
        ("authenticated, not JSON", NOT_JSON, "application/json", True, 400),
        ("authenticated, not an object", b"[1, 2]", "application/json", True, 400),
    ]
    async with serve(channel, rasa, f"/webhooks/{name}") as url, aiohttp.ClientSession() as http:
        for what, body, ctype, authenticated, expected in cases:
            status, answer = await post(
                http, f"{url}/webhooks/{name}/webhook", body, ctype, auth(body) if authenticated else {}
            )
            assert (status, bool(answer.get("error"))) == (expected, True), what
        await channel.drain()
    assert rasa.messages == [] and fake.calls == []
    assert test_line.count(ProcessedEvent) == 0 and test_line.count(ChannelIdentity) == 0


@pytest.mark.parametrize("name", list(CHANNELS))
async def test_a_channel_that_is_off_answers_503_before_any_check(name: str) -> None:
    channel = {"line": LineInput(LineConfig()), "telegram": TelegramInput(TelegramConfig())}[name]
    assert not channel.enabled and channel.get_output_channel() is None
    async with serve(channel, RasaStub(), f"/webhooks/{name}") as url, aiohttp.ClientSession() as http:
        status, answer = await post(http, f"{url}/webhooks/{name}/webhook", OVERSIZE, "text/plain")
        assert status == 503 and "not configured" in answer["error"]
        async with http.get(f"{url}/webhooks/{name}/") as r:
            assert (await r.json())["status"] == "disabled"


@pytest.mark.parametrize("name", list(CHANNELS))
async def test_rasa_failure_still_answers_and_redelivery_gives_no_second_turn(fake: FakeApi, name: str) -> None:
    """The base class's turn: Rasa raising still gives the fallback text (once); the same event
    delivered again is dropped by the shared dedup step."""
    rasa = RasaStub()
    rasa.fail_on.add("こわれる")
    if name == "line":
        async with test_line.harness(fake, rasa) as h:
            event = test_line.text_event("こわれる")
            await h.send(event)
            await h.send(event)
            sent = [m["text"] for r in h.replies() + h.pushes() for m in r.params["messages"]]
    else:
        async with test_telegram.harness(fake, rasa) as t:
            update = test_telegram.text_update("こわれる")
            await t.post(update)
            await t.post(update)
            sent = [c.params["text"] for c in t.sent()]
    assert rasa.texts == ["こわれる"]
    assert sent == [common.failure_text()]
    assert test_line.count(ProcessedEvent) == 1


@pytest.mark.parametrize("name", list(CHANNELS))
def test_both_channels_are_webhook_channels_with_their_rasa_names(name: str) -> None:
    make = {"line": LineInput.from_credentials, "telegram": TelegramInput.from_credentials}[name]
    channel = make(None)
    assert isinstance(channel, WebhookInputChannel) and channel.name() == name
    assert type(channel).__module__ == f"channels.{name}"
