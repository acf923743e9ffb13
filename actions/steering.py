"""The person steers: a callback or the windows asked for at any point start at once.

The SteeringPolicy predicts these right after the message; they hand over to the form that
serves the request (FollowupAction), so the reply comes on the same turn.
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import greet_once, profile_from
from actions.intake import CALLBACK_FORM, INTAKE_FORM, recommend


class ActionSteerCallback(Action):
    """A callback asked for mid-intake, after the windows or in a first message: book it now."""

    def name(self) -> Text:
        return "action_steer_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events = greet_once(dispatcher, tracker)
        if tracker.active_loop_name == INTAKE_FORM:
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return [*events, FollowupAction(CALLBACK_FORM)]


class ActionSteerWindows(Action):
    """「どこに相談したら…」: the windows for what is known, on this turn."""

    def name(self) -> Text:
        return "action_steer_windows"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        if tracker.active_loop_name == CALLBACK_FORM:
            # Booking goes on after the list; its question is asked again below it.
            profile = profile_from(tracker)
            ids = recommend(dispatcher, profile, partial=not (profile.age_known and profile.needs))
            return [SlotSet("recommended", ids), FollowupAction(CALLBACK_FORM)]
        events = greet_once(dispatcher, tracker)
        events += [SlotSet("wants_recommendation", True), SlotSet("recommendation_done", None)]
        return [*events, FollowupAction(INTAKE_FORM)]
