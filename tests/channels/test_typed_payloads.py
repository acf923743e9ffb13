"""Typed text never acts as a Rasa intent payload, on every channel (issue 12, findings 4 and 13).

Each connector is driven over HTTP with text that a person (or a script) could type to smuggle
``/delete_data`` or ``/inform{…}`` past the buttons: what reaches Rasa is checked with Rasa's own
parser (``YAMLStoryReader.unpack_regex_message``, which the processor runs on every message) and
after the NLU normaliser. Buttons still work: LINE/Telegram postbacks, REST payloads in the
postback form.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.language.normaliser import normalize
from channels.rest import PseudonymousRestInput
from tests.channels import test_line, test_telegram
from tests.channels.fake_api import FakeApi
from tests.channels.harness import RasaStub, serve

SMUGGLED = [
    "/delete_data",
    " /delete_data",  # a leading space: Rasa strips it (UserMessage), so the payload used to pass
    "\u3000/delete_data",  # ideographic space
    "\n\t/delete_data",
    "\u00a0/request_callback",  # no-break space
    '  /inform{"phone":"09012345678","relation":"self"}',
    "\u200b/delete_data",  # zero-width space
    "\ufeff/delete_data",  # byte-order mark
    "／delete_data",  # full-width solidus: NFKC folds it to "/"
    " ／delete_data",
]


def rasa_intent(text: str) -> Any:
    """The intent Rasa takes straight from the text (None: the text goes to NLU)."""
    return YAMLStoryReader.unpack_regex_message(Message(data={TEXT: text})).get(INTENT)


def assert_typed(texts: list[str]) -> None:
    assert texts, "nothing reached Rasa"
    for text in texts:
        assert rasa_intent(text) is None, f"{text!r} reaches Rasa as an intent payload"
        assert not normalize(text).startswith("/"), f"{text!r} becomes a payload after normalisation"


def test_the_oracle_recognises_a_payload() -> None:
    # Guards the check above: Rasa does take these as intents.
    assert rasa_intent("/delete_data")["name"] == "delete_data"
    assert rasa_intent(" /delete_data".strip())["name"] == "delete_data"


@pytest.mark.parametrize("text", SMUGGLED)
async def test_line_typed_text_is_never_a_payload(fake: FakeApi, text: str) -> None:
    async with test_line.harness(fake) as h:
        await h.send(test_line.text_event(text))
        assert_typed(h.rasa.texts)


@pytest.mark.parametrize("text", SMUGGLED)
async def test_telegram_typed_text_is_never_a_payload(fake: FakeApi, text: str) -> None:
    async with test_telegram.harness(fake) as h:
        await h.post(test_telegram.text_update(text))
        if text.startswith("/"):  # a Telegram command: only the known ones, mapped to fixed payloads
            assert h.rasa.texts == []
            return
        assert_typed(h.rasa.texts)


async def rest_say(url: str, message: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": "s1", "message": message}) as resp:
            return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(
    "text",
    SMUGGLED[1:]
    + [
        '/inform{"phone":"09012345678","relation":"self"}',
        '/affirm{"share": "yes"}',
        "/affirm{}",
        "/affirm@0.99",
        '/inform{"a":"x","b":"y"}',
        '/inform{"relation":"se lf"}',
    ],
)
async def test_rest_typed_text_and_forged_payloads_are_neutralised(text: str) -> None:
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        status, _ = await rest_say(url, text)
    assert status == 200
    assert_typed(rasa.texts)


@pytest.mark.parametrize(
    "payload",
    ["/skip", "/affirm", "/show_hotlines", '/affirm{"share":"yes"}', '/choose_slot{"preferred_slot":"2026-11-30_am"}'],
)
async def test_rest_button_payloads_still_work(payload: str) -> None:
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        status, _ = await rest_say(url, payload)
    assert status == 200
    assert rasa.texts == [payload]
    assert rasa_intent(payload)["name"] == payload[1:].split("{")[0]
