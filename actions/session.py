"""Session start, stopping, restarting, fallback and other small turns."""

from __future__ import annotations

from typing import Any, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, ActiveLoop, EventType, FollowupAction, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    CALLBACK_SLOTS,
    PROFILE_SLOTS,
    entity_values,
    greet_once,
    privacy_url,
    profile_from,
    utter_hotlines,
)
from actions.intake import recommend
from bot import clock
from bot.domain.retention import SINCE, event_retention, slot_origins, still_kept

# Slots that describe the person: carried into a new session so people can continue.
CARRIED = (*PROFILE_SLOTS, "relation_status", "urgent", "crisis_categories")
QUESTION_SLOTS = ("relation_status", "age_status", "situation_status", "needs_status")


class ActionSessionStart(Action):
    """Carries the profile over; the next greeting then offers to continue or start fresh.

    A value is carried only while the time it was first given is within the retention period
    (MADOGUCHI_RETENTION_EVENT_DAYS), and keeps that time: coming back never renews it.
    """

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events: List[EventType] = [SessionStarted()]
        now, retention = clock.wall_timestamp(), event_retention()
        origins = slot_origins(tracker.events)
        carried = {}
        for k in CARRIED:
            value = tracker.get_slot(k)
            if value in (None, [], False):
                continue
            known = origins.get(k)
            since = known[1] if known and known[0] == value else now
            if still_kept(since, now, retention):
                carried[k] = (value, since)
        returning = any(k in carried for k in ("relation", "age_min", "situation", "needs"))
        events += [
            {**SlotSet(k, v), "metadata": {SINCE: since}}
            for k, (v, since) in carried.items()
            if k not in ("recommended",)
        ]
        events += [
            SlotSet("returning", returning),
            SlotSet("greeted", False),
            SlotSet("crisis_active", False),
            SlotSet("privacy_url", privacy_url()),
        ]
        events.append(ActionExecuted("action_listen"))
        return events


def deactivate_loop() -> List[EventType]:
    """Always emitted (even with no form active) so that the rules stay consistent. The phone
    number given to an abandoned callback form is dropped too: it is kept in a slot only until
    the ticket is stored."""
    return [ActiveLoop(None), SlotSet("requested_slot", None), SlotSet("phone", None)]


class ActionStop(Action):
    def name(self) -> Text:
        return "action_stop"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_stop")
        return deactivate_loop()


class ActionStartOver(Action):
    """「最初から」: forget the answers (not the crisis state), then the intake starts again."""

    def name(self) -> Text:
        return "action_start_over"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_start_over")
        resets = [*PROFILE_SLOTS, *QUESTION_SLOTS, "recommendation_done", *CALLBACK_SLOTS, "returning"]
        events: List[EventType] = deactivate_loop()
        events += [SlotSet(s, None) for s in resets]
        return events


# Replies that are no answer to the question asked: the question is simply asked again.
SMALL_TALK = frozenset({"affirm", "deny", "thanks", "greet", "reassure", "continue_session"})


class ActionGentleFallback(Action):
    """Never a dead end: apologise, offer the ways forward, and go back to the open question.

    Also Rasa's core fallback. The explicit follow-up keeps the dialogue from predicting the
    fallback again and again when no rule covers the turn.
    """

    def name(self) -> Text:
        return "action_gentle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        form = tracker.active_loop_name
        if form and intent in SMALL_TALK:
            return [FollowupAction(form)]
        events: List[EventType] = greet_once(dispatcher, tracker)
        if fallback_streak(tracker.events) % 2 == 1:
            # Not understood twice in a row: no second apology, but the ways forward themselves —
            # the windows for what is known, a callback and the 24-hour lines.
            dispatcher.utter_message(response="utter_fallback_way_forward")
            profile = profile_from(tracker)
            recommend(dispatcher, profile, partial=True)
            utter_hotlines(dispatcher, buttons=way_forward_buttons(domain))
            return [*events, FollowupAction(form or "action_listen")]
        if intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
        dispatcher.utter_message(response="utter_fallback")
        return [*events, FollowupAction(form or "action_listen")]


def fallback_streak(events: List[dict]) -> int:
    """How many user turns in a row, right before this one, the bot did not understand."""
    streak, seen_current, fell_back = 0, False, False
    for event in reversed(events):
        kind = event.get("event")
        if kind == "action" and event.get("name") == "action_gentle_fallback":
            fell_back = True
        elif kind == "user":
            if not seen_current:
                seen_current, fell_back = True, False
                continue
            if not fell_back:
                break
            streak, fell_back = streak + 1, False
        elif kind == "session_started":
            break
    return streak + (1 if fell_back and seen_current else 0)


def way_forward_buttons(domain: DomainDict) -> List[dict]:
    """The callback and restart buttons of the fallback reply, under the 24-hour lines."""
    buttons = domain["responses"]["utter_fallback"][0].get("buttons") or []
    return [b for b in buttons if b.get("payload") in ("/request_callback", "/start_over")]


class ActionMarkUnfollow(Action):
    """LINE unfollow: no reply is possible; remember it for statistics and staff."""

    def name(self) -> Text:
        return "action_mark_unfollow"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        return deactivate_loop()


class ActionRelayStaffReply(Action):
    """A staff message triggered through Rasa's API reaches the user through their channel."""

    def name(self) -> Text:
        return "action_relay_staff_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        message: Any = next(iter(entity_values(tracker, "staff_message")), None)
        if message:
            dispatcher.utter_message(response="utter_staff_reply_preview")
            dispatcher.utter_message(response="utter_staff_reply", staff_message=str(message)[:1000])
        return []
