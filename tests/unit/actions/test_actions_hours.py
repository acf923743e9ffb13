"""Out of hours, every reply that mentions staff says when staff will see the message."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.crisis import ActionCrisisSupport
from actions.intake import ActionOfferHuman


def tracker(entities=None, slots=None) -> Tracker:
    return Tracker(
        "rest-test",
        slots or {},
        {"text": "x", "intent": {"name": "crisis"}, "entities": entities or []},
        [],
        False,
        None,
        {},
        "action_listen",
    )


def run(action, t: Tracker) -> list[dict]:
    dispatcher = CollectingDispatcher()
    asyncio.run(action.run(dispatcher, t, {"responses": {}}))
    return dispatcher.messages


@pytest.mark.parametrize(
    "now,expect_note,back",
    [
        ("2026-11-28T23:30:00+09:00", True, "11/30(月) 9:00"),  # Saturday night
        ("2026-12-30T10:00:00+09:00", True, "1/4(月) 9:00"),  # 年末年始
        ("2026-11-30T10:00:00+09:00", False, None),  # Monday morning
    ],
)
def test_staff_mentions_say_when_staff_will_see_it(monkeypatch, now, expect_note, back):
    monkeypatch.setenv("MADOGUCHI_NOW", now)
    for action in (ActionOfferHuman(), ActionCrisisSupport()):
        messages = run(action, tracker())
        notes = [m for m in messages if m.get("response") == "utter_staff_will_see"]
        assert bool(notes) is expect_note
        if back:
            assert notes[0]["staff_back"] == back


def test_crisis_reply_starts_with_the_lines_and_adds_110_and_189_where_they_apply(monkeypatch):
    monkeypatch.setenv("MADOGUCHI_NOW", "2026-11-30T10:00:00+09:00")
    ents = [{"entity": "crisis_category", "value": "child_abuse"}, {"entity": "crisis_severity", "value": "high"}]
    messages = run(ActionCrisisSupport(), tracker(ents))
    first = messages[0]
    assert first["response"] == "utter_crisis_lines"
    for number in ("119", "110", "#9110", "189", "0120-279-338", "0120-0-78310"):
        assert number in first["lines"]
    suicide = run(ActionCrisisSupport(), tracker([{"entity": "crisis_category", "value": "suicide"}]))
    assert "119" in suicide[0]["lines"] and "#9110" not in suicide[0]["lines"] and "189" not in suicide[0]["lines"]


def test_a_person_asked_for_comes_with_the_windows_that_fit_once_something_is_known(monkeypatch):
    """「役所に言うてもええもんかね」 is answered with the windows for what is known and the offer
    of a person; with nothing known, the city's anchor window and the offer."""
    import actions.intake as intake

    monkeypatch.setenv("MADOGUCHI_NOW", "2026-11-30T10:00:00+09:00")
    recorded = []
    monkeypatch.setattr(intake, "record_stat", lambda *a, **k: recorded.append(k))
    known = run(ActionOfferHuman(), tracker(slots={"relation": "family", "age_min": 45, "age_max": 45}))
    payloads = [m["custom"]["windows"] for m in known if (m.get("custom") or {}).get("windows")]
    assert payloads and 1 <= len(payloads[0]) <= 3
    assert any(m.get("response") == "utter_human_offer" for m in known)
    assert recorded and recorded[0]["relation"] == "family"
    unknown = run(ActionOfferHuman(), tracker())
    assert not [m for m in unknown if (m.get("custom") or {}).get("windows")]
    assert any(m.get("response") == "utter_human_offer" for m in unknown)


def test_a_relative_asking_when_the_families_meet_gets_the_windows_not_the_youth_dates(monkeypatch):
    """The 居場所's dates are for the person concerned; a parent asking when the parents meet
    (家族の集まり) gets the windows that know the family groups."""
    import actions.intake as intake
    from actions.intake import ActionIbashoSchedule

    monkeypatch.setenv("MADOGUCHI_NOW", "2026-11-30T10:00:00+09:00")
    monkeypatch.setattr(intake, "record_stat", lambda *a, **k: None)

    def asked(first: str, relation: str) -> list[dict]:
        events = [
            {"event": "session_started", "timestamp": 1},
            {"event": "user", "text": first, "timestamp": 2},
            {"event": "user", "text": "日にちだけ教えてもらえますか", "timestamp": 3},
        ]
        t = Tracker("rest-test", {"relation": relation}, {"text": "x"}, events, False, None, {}, "action_listen")
        return run(ActionIbashoSchedule(), t)

    family = asked("親の会みたいなものがあると聞いて", "family")
    assert not any(m.get("response") == "utter_ibasho_intro" for m in family)
    assert any((m.get("custom") or {}).get("windows") for m in family)
    youth = asked("居場所みたいなところに行ってみたい", "self")
    assert any(m.get("response") == "utter_ibasho_intro" for m in youth)
