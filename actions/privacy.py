"""Erasure on request: confirm, then delete the conversation and personal data."""
from __future__ import annotations

import asyncio
import logging
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import AllSlotsReset, EventType, SlotSet

from actions.session import deactivate_loop
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.erasure import complete_erasure_requests, erase_sender, request_tracker_erasure

log = logging.getLogger(__name__)
# Rasa stores this turn's events after the action returns; the tracker rows are deleted
# once that write has happened.
TRACKER_ERASE_DELAY_S = 3.0


class ActionAskDelete(Action):
    def name(self) -> Text:
        return "action_ask_delete"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_ask_delete")
        return [SlotSet("delete_pending", True), *deactivate_loop()]


async def _erase_tracker_later() -> None:
    await asyncio.sleep(TRACKER_ERASE_DELAY_S)
    try:
        complete_erasure_requests()
    except Exception:  # noqa: BLE001 — the request stays pending; `make purge` completes it
        log.exception("tracker erasure failed; purge will complete it")


class ActionDeleteData(Action):
    def name(self) -> Text:
        return "action_delete_data"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        erase_sender(tracker.sender_id, include_tracker=False)
        request_tracker_erasure(tracker.sender_id)
        asyncio.get_running_loop().create_task(_erase_tracker_later())
        dispatcher.utter_message(response="utter_deleted")
        return [AllSlotsReset()]


class ActionCancelDelete(Action):
    def name(self) -> Text:
        return "action_cancel_delete"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        dispatcher.utter_message(response="utter_delete_cancelled")
        return [SlotSet("delete_pending", False)]
