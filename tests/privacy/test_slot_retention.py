"""What the conversation keeps in slots (issue #12, finding 2): the story carried into a new
session never outlives retention, and a phone number given to an abandoned booking is dropped."""

from __future__ import annotations

import asyncio
import time

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.session import ActionSessionStart, ActionStop

DAY = 86400.0
STORY = "息子が二十年部屋から出てきません"


def tracker(slots: dict, events: list[dict]) -> Tracker:
    return Tracker(
        "rest-test",
        slots,
        {"text": "こんにちは", "intent": {"name": "greet"}, "entities": []},
        events,
        False,
        None,
        {},
        "action_listen",
    )


def run(action, t: Tracker) -> list[dict]:
    return asyncio.run(action.run(CollectingDispatcher(), t, {"responses": {}}))


def carried(events: list[dict]) -> dict:
    return {e["name"]: e for e in events if e.get("event") == "slot" and e["name"] in ("situation", "relation")}


def session_start(slots: dict, events: list[dict]) -> dict:
    return carried(run(ActionSessionStart(), tracker(slots, events)))


def test_a_story_told_within_retention_is_carried_with_the_day_it_was_told(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_RETENTION_EVENT_DAYS", "30")
    told = time.time() - 10 * DAY
    out = session_start(
        {"situation": STORY, "relation": "family"},
        [
            {"event": "slot", "name": "situation", "value": STORY, "timestamp": told},
            {"event": "slot", "name": "relation", "value": "family", "timestamp": told},
        ],
    )
    assert out["situation"]["value"] == STORY
    assert out["situation"]["metadata"]["since"] == told  # not renewed by coming back


def test_a_story_older_than_retention_is_not_carried_however_often_the_person_came_back(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_RETENTION_EVENT_DAYS", "30")
    told = time.time() - 31 * DAY
    # Told 31 days ago; carried into a session 20 days ago (written again then, with its first day).
    events = [
        {"event": "session_started", "timestamp": time.time() - 20 * DAY},
        {
            "event": "slot",
            "name": "situation",
            "value": STORY,
            "timestamp": time.time() - 20 * DAY,
            "metadata": {"since": told},
        },
        {"event": "slot", "name": "relation", "value": "family", "timestamp": time.time() - 2 * DAY},
    ]
    out = session_start({"situation": STORY, "relation": "family"}, events)
    assert "situation" not in out
    assert out["relation"]["value"] == "family"  # given 2 days ago: still carried


def test_a_phone_number_given_to_an_abandoned_booking_is_dropped():
    events = run(ActionStop(), tracker({"phone": "+819055551212"}, []))
    assert {"event": "slot", "name": "phone", "value": None, "timestamp": None} in events
