"""The person steers: the windows asked for in the middle of a form come at once.

The SteeringPolicy predicts this right after the message; it hands over to the form that
serves the request (FollowupAction), so the reply comes on the same turn.
"""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import greet_once, profile_from
from actions.intake import CALLBACK_FORM, INTAKE_FORM, recommend


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
