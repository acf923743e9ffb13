"""Crisis: lines first, on the same turn, in every state; a single 「大丈夫」 does not close it."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    crisis_signal,
    emergency_text,
    hotlines_payload,
    hotlines_text,
    staff_hours_note,
    utter_hotlines,
)

POLICE_CATEGORIES = {"violence", "elder_abuse", "child_abuse", "danger_now"}
CHILD_CATEGORIES = {"child_abuse"}


def utter_crisis_lines(dispatcher: CollectingDispatcher, categories: List[str]) -> None:
    """Lines first: 119, then 110/#9110 or 189 where they apply, then the 24-hour lines."""
    emergency = ["ambulance"]
    if POLICE_CATEGORIES & set(categories):
        emergency += ["police", "police_consult"]
    if CHILD_CATEGORIES & set(categories):
        emergency.append("child_abuse")
    lines = f"{emergency_text(emergency)}\n{hotlines_text()}"
    dispatcher.utter_message(
        response="utter_crisis_lines",
        lines=lines,
        json_message={"crisis_lines": {"emergency": emergency, "hotlines": hotlines_payload()}},
    )


class ActionCrisisSupport(Action):
    """Predicted by CrisisPolicy whenever the message is a crisis, whatever the state."""

    def name(self) -> Text:
        return "action_crisis_support"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        categories, _severity = crisis_signal(tracker)
        previous = list(tracker.get_slot("crisis_categories") or [])
        utter_crisis_lines(dispatcher, categories or previous)  # lines first, every time
        if tracker.get_slot("crisis_active") and not set(categories) - set(previous):
            # Told again while the lines are open: the same words a third time would read as a
            # machine not listening.
            dispatcher.utter_message(response="utter_crisis_still_here")
        else:
            dispatcher.utter_message(response="utter_crisis_intro")
            staff_hours_note(dispatcher)
            dispatcher.utter_message(response="utter_crisis_offer")
        events: List[EventType] = [
            SlotSet("crisis_active", True),
            SlotSet("crisis_checks", 0.0),
            SlotSet("urgent", True),
            SlotSet("greeted", True),
            SlotSet("crisis_categories", list(dict.fromkeys(previous + categories))),
        ]
        if tracker.active_loop_name:
            # Pause the form; filled slots stay, so booking resumes where it was.
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events


class ActionCrisisFollowup(Action):
    """The first 「大丈夫」 gets one gentle check more; the second closes with lines in reach."""

    def name(self) -> Text:
        return "action_crisis_followup"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        checks = int(tracker.get_slot("crisis_checks") or 0)
        if checks < 1:
            dispatcher.utter_message(
                text=hotlines_text(), json_message={"hotlines": hotlines_payload(), "text": hotlines_text()}
            )
            dispatcher.utter_message(response="utter_crisis_check_again")
            return [SlotSet("crisis_checks", float(checks + 1))]
        dispatcher.utter_message(response="utter_crisis_close")
        return [SlotSet("crisis_active", False), SlotSet("crisis_checks", float(checks + 1))]


class ActionShowHotlines(Action):
    def name(self) -> Text:
        return "action_show_hotlines"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        utter_hotlines(dispatcher)
        return []
