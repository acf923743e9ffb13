"""Erasure on request: confirm, then delete the conversation and personal data."""

from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.session import deactivate_loop
from bot.services.erasure import ERASE_ACTION, erase_sender, request_tracker_erasure


class ActionAskDelete(Action):
    def name(self) -> Text:
        return "action_ask_delete"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_ask_delete")
        return [SlotSet("delete_pending", True), *deactivate_loop()]


class ActionDeleteData(Action):
    """Erases the tickets' personal fields and the id map now. The conversation itself is erased
    by the tracker store right after it has saved this turn (bot.rasa_plugins.tracker_store), which then
    marks the request done; until then the request stays pending and the purge completes it."""

    def name(self) -> Text:
        return ERASE_ACTION

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        erase_sender(tracker.sender_id, include_tracker=False)
        request_tracker_erasure(tracker.sender_id)
        dispatcher.utter_message(response="utter_deleted")
        # With every slot reset no rule matches the next step any more: listen explicitly,
        # or the core fallback would apologise right under "記録を消しました".
        return [AllSlotsReset(), FollowupAction("action_listen")]


class ActionCancelDelete(Action):
    def name(self) -> Text:
        return "action_cancel_delete"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_delete_cancelled")
        return [SlotSet("delete_pending", False)]
