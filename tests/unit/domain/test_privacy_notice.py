"""The privacy notice people are asked to consent to can be read (issue 21, H-3).

With a public address the greeting and the consent question link to MADOGUCHI_PUBLIC_URL/privacy
(published by the balancer: tests/security/test_balancer_rules.py). Without one — or with an
address on this machine, as in `make run` — they carry the notice's text, never a 127.0.0.1 link
that nobody on LINE or Telegram can open. Both say that LINE and Telegram carry the messages.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from rasa.core.nlg.interpolator import interpolate_text
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import greet_once
from actions.session import ActionSessionStart

ROOT = Path(__file__).resolve().parents[3]
RESPONSES = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]
CARRIERS = ("LINE（LINEヤフー株式会社）", "Telegram")


def tracker() -> Tracker:
    return Tracker(
        "line-test",
        {},
        {"text": "こんにちは", "intent": {"name": "greet"}, "entities": []},
        [],
        False,
        None,
        {},
        "action_listen",
    )


def greeting_seen() -> str:
    """The greeting's text as the person reads it: domain.yml's response with the action's values."""
    dispatcher = CollectingDispatcher()
    greet_once(dispatcher, tracker())
    [message] = dispatcher.messages
    text = RESPONSES[message["response"]][0]["text"]
    return interpolate_text(text, {k: v for k, v in message.items() if isinstance(v, str)})


def consent_question_seen() -> str:
    """utter_ask_consent with the privacy_url slot that the session start sets."""
    events = asyncio.run(ActionSessionStart().run(CollectingDispatcher(), tracker(), {"responses": {}}))
    [value] = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "privacy_url"]
    return interpolate_text(RESPONSES["utter_ask_consent"][0]["text"], {"privacy_url": value})


@pytest.mark.parametrize("public_url", [None, "", "http://127.0.0.1:8000", "http://localhost:8080"])
def test_without_a_public_address_people_read_the_notice_itself(
    monkeypatch: pytest.MonkeyPatch, public_url: str | None
) -> None:
    monkeypatch.delenv("MADOGUCHI_PRIVACY_URL", raising=False)
    if public_url is None:
        monkeypatch.delenv("MADOGUCHI_PUBLIC_URL", raising=False)
    else:
        monkeypatch.setenv("MADOGUCHI_PUBLIC_URL", public_url)
    for seen in (greeting_seen(), consent_question_seen()):
        assert "http" not in seen and "127.0.0.1" not in seen and "localhost" not in seen, seen
        assert all(c in seen for c in CARRIERS), seen
        assert "記録を消して" in seen and "30日" in seen and "180日" in seen


def test_the_notice_in_the_chat_follows_the_retention_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MADOGUCHI_PUBLIC_URL", raising=False)
    monkeypatch.delenv("MADOGUCHI_PRIVACY_URL", raising=False)
    monkeypatch.setenv("MADOGUCHI_RETENTION_EVENT_DAYS", "14")
    monkeypatch.setenv("MADOGUCHI_RETENTION_TICKET_DAYS", "90")
    seen = greeting_seen()
    assert "14日" in seen and "90日" in seen and "30日" not in seen


def test_with_a_public_address_people_get_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MADOGUCHI_PRIVACY_URL", raising=False)
    monkeypatch.setenv("MADOGUCHI_PUBLIC_URL", "https://madoguchi.example.jp/")
    for seen in (greeting_seen(), consent_question_seen()):
        assert seen.endswith("個人情報の扱い: https://madoguchi.example.jp/privacy"), seen
        assert "LINEヤフー" not in seen  # the link, not the text


def test_the_full_notice_says_who_carries_the_messages() -> None:
    """docs/privacy.md is what /privacy serves (tests/staff/test_tickets.py)."""
    notice = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    assert all(c in notice for c in CARRIERS)
