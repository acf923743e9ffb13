"""Only the bot's own buttons come in as intents (issue 21, Low: ``/intent{…}`` payloads,
``staff_reply`` included, were accepted from Telegram callback queries and from REST).

Anyone can forge a button press: a Telegram client sends any ``callback_data`` it likes, a REST
client any message. Before the fix a well-formed ``i=staff_reply&e=staff_message&v=…`` callback
or a REST ``/staff_reply{"staff_message":"…"}`` reached Rasa as the staff app's intent (a fake
「相談員からのメッセージ」), and ``/inform{"phone":…}`` set an entity no button sets. Now a
press must carry a payload one of the bot's buttons carries (``channels.common.bot_button``: the
buttons of domain.yml, the rich menu, the callback slots); the rest is answered with the gentle
``unknown_postback`` text (LINE, Telegram) or is typed text (REST).
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain import postback
from channels import common
from channels.rest import PseudonymousRestInput
from tests.channels import test_line, test_telegram
from tests.channels.fake_api import FakeApi
from tests.channels.harness import RasaStub, serve
from tests.channels.test_typed_payloads import assert_typed, rest_say

FORGED = [
    '/staff_reply{"staff_message":"forged"}',
    "/staff_reply",
    "/unfollow",
    '/inform{"phone":"09012345678"}',
    '/inform{"relation":"stranger"}',
    '/request_callback{"priority":"urgent"}',
    '/choose_slot{"nickname":"x"}',
]
OWN = [
    "/affirm",
    '/affirm{"share":"yes"}',
    '/inform{"relation":"self"}',
    '/inform{"contact":"phone"}',
    "/request_callback",
    "/delete_data",  # the rich menu's
    '/choose_slot{"preferred_slot":"2026-11-30_am"}',  # built by action_ask_preferred_slot
    '/choose_slot{"preferred_slot":"any"}',
]


def test_the_catalogue_is_the_bots_own_buttons() -> None:
    buttons = common.bot_buttons()
    assert '/inform{"relation":"family"}' in buttons and "/show_hotlines" in buttons
    assert not [p for p in buttons if "staff" in p or "unfollow" in p or "{{" in p]
    assert all(common.bot_button(p) for p in OWN)
    assert not [p for p in FORGED if common.bot_button(p)]


@pytest.mark.parametrize("payload", FORGED)
async def test_telegram_refuses_a_forged_callback_gently(fake: FakeApi, payload: str) -> None:
    async with test_telegram.harness(fake) as h:
        await h.post(test_telegram.callback_update(postback.encode(payload)))
        assert fake.calls_to("/answerCallbackQuery")  # the spinner still stops
        assert h.rasa.messages == []
        assert h.sent()[0].params["text"] == common.load_texts()["unknown_postback"]


@pytest.mark.parametrize("payload", FORGED)
async def test_line_refuses_a_postback_the_bot_never_offered(fake: FakeApi, payload: str) -> None:
    async with test_line.harness(fake) as h:
        await h.send(test_line.postback_event(postback.encode(payload)))
        assert h.rasa.messages == []
        assert h.replies()[0].params["messages"][0]["text"] == common.load_texts()["unknown_postback"]


@pytest.mark.parametrize("payload", OWN)
async def test_the_bots_own_buttons_still_work_everywhere(fake: FakeApi, payload: str) -> None:
    async with test_telegram.harness(fake) as h:
        await h.post(test_telegram.callback_update(postback.encode(payload)))
        assert h.rasa.texts == [payload]
    async with test_line.harness(fake) as h:
        await h.send(test_line.postback_event(postback.encode(payload)))
        assert h.rasa.texts == [payload]
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        assert (await rest_say(url, payload))[0] == 200
    assert rasa.texts == [payload]


@pytest.mark.parametrize("payload", FORGED)
async def test_rest_takes_a_payload_the_bot_never_offered_as_typed_text(payload: str) -> None:
    rasa = RasaStub()
    async with serve(PseudonymousRestInput(), rasa, "/webhooks/rest") as url:
        status, _ = await rest_say(url, payload)
    assert status == 200
    assert_typed(rasa.texts)
    assert rasa.texts == ["／" + payload[1:]]


def test_a_forged_telegram_callback_is_logged_without_its_content(caplog: Any) -> None:
    # The refusal names the channel and a short pseudonym, never the data.
    from channels.telegram import TelegramConfig, TelegramInput

    tg = TelegramInput(TelegramConfig())
    with caplog.at_level("INFO"):
        assert (
            tg.button_payload(postback.encode('/staff_reply{"staff_message":"secret"}'), "telegram-abcdef0123") is None
        )
    assert "never offers" in caplog.text and "secret" not in caplog.text and "staff_message" not in caplog.text
