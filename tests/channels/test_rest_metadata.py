"""A published REST channel stores no client-chosen metadata (issue 21, M-5: "arbitrary
``metadata`` is stored").

Rasa keeps a message's metadata in the tracker with the message. Before the fix the REST channel
passed the client's ``metadata`` object through as it came: any keys, any size, names or phone
numbers included, stored next to the conversation. Now only the allowlisted keys
(``channels.rest.CLIENT_METADATA``) with short plain values pass, besides the channel's own
``channel``/``event`` (what LINE and Telegram record).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from channels import rest
from channels.rest import PseudonymousRestInput
from tests.channels.harness import RasaStub, serve


async def say(metadata: Any) -> dict[str, Any]:
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        async with aiohttp.ClientSession() as http:
            body = {"sender": "s1", "message": "こんにちは", "metadata": metadata}
            async with http.post(f"{url}/webhooks/rest/webhook", json=body) as resp:
                assert resp.status == 200
    [message] = rasa.messages
    return dict(message.metadata)


async def test_client_metadata_outside_the_allowlist_is_not_stored() -> None:
    stored = await say(
        {
            "name": "山田花子",
            "phone": "090-1234-5678",
            "channel": "line",  # a client cannot pass as another channel
            "event": "postback",
            "nested": {"a": ["b" * 10_000]},
            "client": "webchat-2.1",
            "locale": "ja-JP",
        }
    )
    assert stored == {"channel": "rest", "event": "message", "client": "webchat-2.1", "locale": "ja-JP"}


async def test_allowed_keys_keep_only_short_plain_values() -> None:
    stored = await say({"client": "<script>", "locale": "x" * 41})
    assert stored == {"channel": "rest", "event": "message"}
    assert set(rest.CLIENT_METADATA) == {"client", "locale"}


async def test_no_or_malformed_metadata_gives_the_channels_own() -> None:
    assert await say(None) == {"channel": "rest", "event": "message"}
    assert await say(["phone", "090"]) == {"channel": "rest", "event": "message"}
