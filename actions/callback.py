"""Callback booking: consent → contact → slot → nickname → confirm → ticket."""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    CALLBACK_SLOTS,
    directory,
    entity_values,
    hotlines_payload,
    hotlines_text,
    latest_intent,
    now,
    slot_label,
    staff_hours_note,
)
from actions.intake import CONTROL_INTENTS, VETO_INTENTS
from bot import clock
from bot.domain.phone import looks_like_a_number, mask_phone, normalize_phone
from bot.domain.schedule import callback_slots, parse_slot_key, slot_is_bookable
from bot.domain.slots import (
    ANY_SLOT,
    NO_NICKNAME,
    clean_nickname,
    contact_method_named,
    match_slot_text,
    wants_any_time,
)
from bot.domain.ticket_limits import may_book, sender_limit
from bot.language.normaliser import normalize
from bot.paths import RESOURCES
from bot.store.db import session_scope
from bot.store.stats import record_stat, session_key
from bot.store.tickets import (
    ConsentRequired,
    TicketDraft,
    book_callback,
    count_recent_tickets,
    record_consent,
)

CALLBACK_FORM = "callback_form"
#: The reply past the ticket limit (issue 21, M-5).
TICKET_LIMIT_TEXTS = RESOURCES / "ticket_limit.yml"

log = logging.getLogger(__name__)


def record_callback_stat(tracker: Tracker, ticket: Any) -> None:
    """The anonymous statistics row of a booked callback (record_stat never raises)."""
    record_stat(
        "callback",
        tracker.sender_id,
        session_key(tracker.events),
        relation=ticket.relation,
        age_band=ticket.age_band,
        needs=ticket.needs,
        windows=ticket.windows,
        at=now(),
    )


def response_text(domain: DomainDict, name: str, **values: Any) -> str:
    """A response's first text, filled, without sending it (for composing one message)."""
    text = domain["responses"][name][0]["text"]
    return text.format(**values) if values else text


def _requested(tracker: Tracker, slot: str) -> bool:
    return tracker.active_loop_name == CALLBACK_FORM and tracker.get_slot("requested_slot") == slot


def _answering(tracker: Tracker) -> bool:
    return latest_intent(tracker) not in CONTROL_INTENTS


class ValidateCallbackForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_callback_form"

    async def required_slots(
        self, domain_slots: List[Text], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[Text]:
        if tracker.get_slot("consent") == "no":
            return []
        slots = ["consent", "contact_method"]
        if tracker.get_slot("contact_method") == "phone":
            slots.append("phone")
        return [*slots, "preferred_slot", "nickname", "confirm"]

    # --- extraction: only from the message answering the question just asked ---
    async def extract_consent(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not _requested(tracker, "consent"):
            return {}
        intent = latest_intent(tracker)
        if intent == "affirm":
            share = "yes" in [str(v) for v in entity_values(tracker, "share")]
            return {"consent": "share" if share else "summary", "share_conversation": share}
        if intent in ("deny", "skip", "dont_know"):
            return {"consent": "no", "share_conversation": False}
        return {}

    async def extract_contact_method(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        # The "やっぱりチャットで" button works while the phone is being asked, too.
        contact = next((str(v) for v in entity_values(tracker, "contact")), None)
        if contact in ("chat", "phone") and (_requested(tracker, "contact_method") or _requested(tracker, "phone")):
            return {"contact_method": contact}
        intent = latest_intent(tracker)
        if not _requested(tracker, "contact_method") or intent in VETO_INTENTS:
            return {}
        if intent in ("skip", "dont_know"):
            dispatcher.utter_message(response="utter_contact_defaulted_to_chat")
            return {"contact_method": "chat"}
        # Words decide, whatever the classifier made of a short answer like 「このチャットで」.
        text = normalize(tracker.latest_message.get("text") or "")
        phone = normalize_phone(text)
        if phone:
            return {"contact_method": "phone", "phone": phone}
        named = contact_method_named(text)
        return {"contact_method": named} if named else {}

    async def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not _requested(tracker, "phone"):
            return {}
        intent = latest_intent(tracker)
        if intent in ("skip", "dont_know"):
            dispatcher.utter_message(response="utter_contact_defaulted_to_chat")
            return {"contact_method": "chat"}
        if not _answering(tracker) or entity_values(tracker, "contact"):
            return {}
        text = tracker.latest_message.get("text") or ""
        phone = normalize_phone(text)
        if phone:
            return {"phone": phone}
        if looks_like_a_number(text):
            dispatcher.utter_message(response="utter_phone_invalid")
            return {"phone": None}
        return {}

    async def extract_preferred_slot(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not _requested(tracker, "preferred_slot"):
            return {}
        intent = latest_intent(tracker)
        service = directory().service
        moment = now()
        keys = [str(v) for v in entity_values(tracker, "preferred_slot")]
        if keys:
            key = keys[0]
            if key == ANY_SLOT:
                return {"preferred_slot": ANY_SLOT}
            slot = parse_slot_key(key, service)
            if slot and slot_is_bookable(slot, moment, service):
                return {"preferred_slot": slot.key}
            dispatcher.utter_message(response="utter_slot_invalid")
            return {"preferred_slot": None}
        text = tracker.latest_message.get("text") or ""
        if intent in ("skip", "dont_know") or wants_any_time(text):
            return {"preferred_slot": ANY_SLOT}
        if not _answering(tracker):
            return {}
        slot = match_slot_text(text, callback_slots(moment, service), directory().formats["weekdays"], moment.date())
        if slot:
            return {"preferred_slot": slot.key}
        dispatcher.utter_message(response="utter_slot_invalid")
        return {"preferred_slot": None}

    async def extract_nickname(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not _requested(tracker, "nickname"):
            return {}
        intent = latest_intent(tracker)
        if intent in ("skip", "dont_know", "deny"):
            return {"nickname": NO_NICKNAME}
        if not _answering(tracker) or intent == "affirm":
            # 「はい」 is not a name: the question is asked again.
            return {}
        return {"nickname": clean_nickname(tracker.latest_message.get("text") or "")}

    async def extract_confirm(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> Dict[Text, Any]:
        if not _requested(tracker, "confirm"):
            return {}
        intent = latest_intent(tracker)
        if intent == "affirm":
            return {"confirm": "yes"}
        if intent in ("deny", "skip"):
            return {"confirm": "no"}
        return {}


class ActionAskPreferredSlot(Action):
    """Offers the next business days' periods as buttons (weekends, holidays, 年末年始 excluded)."""

    def name(self) -> Text:
        return "action_ask_preferred_slot"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        slots = callback_slots(now(), directory().service)
        buttons = [{"title": slot_label(s), "payload": f'/choose_slot{{"preferred_slot":"{s.key}"}}'} for s in slots]
        buttons.append(
            {
                "title": response_text(domain, "utter_slot_any"),
                "payload": f'/choose_slot{{"preferred_slot":"{ANY_SLOT}"}}',
            }
        )
        dispatcher.utter_message(response="utter_ask_preferred_slot", buttons=buttons)
        return []


def _slot_label_for(key: Optional[str], domain: DomainDict) -> str:
    if not key or key == ANY_SLOT:
        return response_text(domain, "utter_slot_any")
    slot = parse_slot_key(key, directory().service)
    return slot_label(slot) if slot else key


def _contact_label(tracker: Tracker, domain: DomainDict) -> str:
    if tracker.get_slot("contact_method") == "phone" and tracker.get_slot("phone"):
        return response_text(domain, "utter_contact_label_phone", phone_masked=mask_phone(tracker.get_slot("phone")))
    return response_text(domain, "utter_contact_label_chat")


class ActionAskConfirm(Action):
    def name(self) -> Text:
        return "action_ask_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        nickname = tracker.get_slot("nickname")
        dispatcher.utter_message(
            response="utter_confirm_summary",
            contact_label=_contact_label(tracker, domain),
            slot_label=_slot_label_for(tracker.get_slot("preferred_slot"), domain),
            nickname_label=nickname
            if nickname and nickname != NO_NICKNAME
            else response_text(domain, "utter_nickname_none"),
            urgent_label=response_text(domain, "utter_urgent_label") if tracker.get_slot("urgent") else "",
        )
        return []


def conversation_key(tracker: Tracker) -> str:
    """Stable for one booking: the user message that confirmed it (retries resend the same)."""
    return (
        str(tracker.latest_message.get("message_id") or tracker.latest_message.get("text") or "")
        + f"|{len(tracker.events)}"
    )


def booking_session(tracker: Tracker) -> float:
    """The Rasa session this booking is made in: the timestamp of its `session_started` event
    (0.0 before any), kept with the ticket so that a supervisor reads this conversation only
    (issue 21, M-8; staff.rasa_client.conversation)."""
    try:
        return float(session_key(tracker.events))
    except ValueError:
        return 0.0


def ticket_limit_reached(draft: TicketDraft) -> Optional[bool]:
    """True when this sender already booked as many tickets as the window allows (issue 21, M-5:
    MADOGUCHI_TICKETS_PER_SENDER within MADOGUCHI_TICKET_WINDOW_HOURS, bot.domain.ticket_limits);
    None when the database could not be asked.

    Counted by the pseudonymous sender id the tickets carry; a retry of this very booking (its
    idempotency key) does not count against itself, so it still gets its number. A person asking
    for help is never turned away by a failure of ours: with a bad setting the booking goes on
    (False, logged), and with the database down (None) it goes to the outbox as before.
    """
    try:
        limit = sender_limit()
    except Exception as exc:
        log.error("ticket limit not checked (%s): booking goes on", exc)
        return False
    if not limit.capped:
        return False
    try:
        count = count_recent_tickets(
            draft.sender_id, limit.window_start(clock.now()), excluding_key=draft.idempotency_key
        )
    except Exception as exc:
        log.warning("ticket limit not checked (%s): the database is down", type(exc).__name__)
        return None
    return not may_book(count, limit.per_sender)


@lru_cache(maxsize=1)
def _already_with_staff_template() -> str:
    return str(yaml.safe_load(TICKET_LIMIT_TEXTS.read_text(encoding="utf-8"))["already_with_staff"])


def utter_already_with_staff(dispatcher: CollectingDispatcher) -> None:
    """Past the ticket limit: a request is already with the staff, and the 24-hour lines of the
    directory (one message, as `utter_hotlines` sends them); out of hours, when staff will see it."""
    text = _already_with_staff_template().format(lines=hotlines_text())
    dispatcher.utter_message(text=text, json_message={"hotlines": hotlines_payload(), "text": text})
    staff_hours_note(dispatcher)


class ActionBookCallback(Action):
    """Stores the ticket only after consent, and tells the truth about it.

    If the database cannot take the ticket, the draft goes to the durable outbox (`bot.services.outbox`)
    and the person hears that it is being saved (never 「受け付けました」). Once the outbox has
    stored it, the outbox worker asks Rasa to run this action again for the conversation
    (`/execute`, outside the form): it then announces the ticket number through the person's
    channel.
    """

    def __init__(self) -> None:
        # The action server instantiates each action once at start-up: run the outbox retry
        # here, so drafts spooled before a restart are stored without waiting for a booking.
        from bot.services import outbox

        super().__init__()
        outbox.ensure_worker()

    def name(self) -> Text:
        return "action_book_callback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        from bot.services import outbox

        if tracker.latest_action_name == "action_listen":
            # Not reached through the callback form: the outbox worker asks us to announce.
            return self._announce(dispatcher, tracker, domain)
        reset = [SlotSet(s, None) for s in CALLBACK_SLOTS] + [SlotSet("requested_slot", None)]
        consent = tracker.get_slot("consent")
        if consent not in ("summary", "share"):
            self._record_consent(tracker, agreed=False)
            dispatcher.utter_message(response="utter_consent_declined")
            from actions.common import utter_hotlines

            utter_hotlines(dispatcher)
            return reset
        if tracker.get_slot("confirm") != "yes":
            dispatcher.utter_message(response="utter_callback_cancelled")
            return reset
        outbox.kick()  # every booking attempt also retries what is waiting in the outbox
        draft = self._draft(tracker)
        reached = await asyncio.to_thread(ticket_limit_reached, draft)
        if reached:
            # No ticket and no consent row: the form ends here, its slots cleared (issue 21, M-5).
            log.info("callback not booked: the sender's ticket limit is reached")
            utter_already_with_staff(dispatcher)
            return reset
        # The database did not answer the count: do not wait on it again for the consent.
        consent_stored = reached is not None and self._record_consent(tracker, agreed=True, share=consent == "share")
        try:
            if not consent_stored:  # the database is down already: do not wait on it twice
                raise ConnectionError("consent could not be recorded")
            ticket, created = book_callback(draft)
        except ConsentRequired:
            dispatcher.utter_message(response="utter_consent_declined")
            return reset
        except Exception as exc:  # the database is down: never claim it was stored
            try:
                outbox.spool(draft)  # durable; the worker stores it and then announces the number
            except Exception:
                log.exception("ticket could not be stored (%s) nor spooled", type(exc).__name__)
            dispatcher.utter_message(response="utter_ticket_stored_later")
            from actions.common import utter_hotlines

            utter_hotlines(dispatcher)
            return reset
        outbox.after_stored(ticket, created)
        if created:
            await asyncio.to_thread(record_callback_stat, tracker, ticket)
        self._utter_booked(dispatcher, domain, ticket, _contact_label(tracker, domain))
        return [*reset, SlotSet("ticket_id", float(ticket.id))]

    @staticmethod
    def _utter_booked(dispatcher: CollectingDispatcher, domain: DomainDict, ticket: Any, contact: str) -> None:
        slot = _slot_label_for(ticket.preferred_slot, domain)
        anytime = not ticket.preferred_slot or ticket.preferred_slot == ANY_SLOT
        dispatcher.utter_message(
            response="utter_ticket_booked_anytime" if anytime else "utter_ticket_booked",
            ticket_no=f"#{ticket.id}",
            slot_label=slot,
            contact_label=contact,
        )
        dispatcher.utter_message(
            json_message={
                "ticket": {
                    "id": ticket.id,
                    "number": f"#{ticket.id}",
                    "slot_label": slot,
                    "contact_label": contact,
                    "urgent": ticket.priority == "urgent",
                }
            }
        )
        staff_hours_note(dispatcher)

    def _announce(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        """Tell the person the number of each ticket the outbox stored since they were told
        「保存に時間がかかっています」. Silent when there is nothing to announce."""
        from rasa_sdk.events import ActionExecuted

        from bot.services import outbox
        from bot.store.tickets import get_ticket

        events: List[EventType] = []
        for pending in outbox.announcements_for(tracker.sender_id):
            try:
                ticket = get_ticket(pending.ticket_id)
            except Exception:  # the database went away again: the worker retries
                break
            if ticket is None or ticket.sender_id != tracker.sender_id:  # erased meanwhile
                outbox.mark_announced(pending.key)
                continue
            if ticket.contact_method == "phone" and ticket.phone:
                contact = response_text(domain, "utter_contact_label_phone", phone_masked=mask_phone(ticket.phone))
            else:
                contact = response_text(domain, "utter_contact_label_chat")
            self._utter_booked(dispatcher, domain, ticket, contact)
            outbox.mark_announced(pending.key)
            # Counted here: the turn that spooled the draft could not (record_stat never raises).
            record_callback_stat(tracker, ticket)
            events.append(SlotSet("ticket_id", float(ticket.id)))
        # The conversation goes on listening, as after any turn.
        return [*events, ActionExecuted("action_listen")]

    @staticmethod
    def _record_consent(tracker: Tracker, *, agreed: bool, share: bool = False) -> bool:
        """Record the consent; False if the database could not take it (the outbox, which
        carries the consent with the draft, records it later)."""
        try:
            with session_scope() as session:
                record_consent(session, tracker.sender_id, "callback_summary", agreed)
                if agreed:
                    record_consent(session, tracker.sender_id, "share_conversation", share)
            return True
        except Exception:  # booking reports the storage failure itself
            return False

    @staticmethod
    def _draft(tracker: Tracker) -> TicketDraft:
        d = directory()
        key = tracker.get_slot("preferred_slot")
        slot = parse_slot_key(key, d.service) if key and key != ANY_SLOT else None
        age_min, age_max = tracker.get_slot("age_min"), tracker.get_slot("age_max")
        nickname = tracker.get_slot("nickname")
        relation = tracker.get_slot("relation")
        return TicketDraft(
            sender_id=tracker.sender_id,
            channel=tracker.get_latest_input_channel() or "rest",
            conversation_key=conversation_key(tracker),
            contact_method=tracker.get_slot("contact_method") or "chat",
            consent_at=clock.now(),
            priority="urgent" if tracker.get_slot("urgent") else "normal",
            relation=relation if relation in ("self", "family", "other") else None,
            relation_detail=tracker.get_slot("relation_detail"),
            age_min=age_min,
            age_max=age_max,
            age_band=d.age_band(age_min, age_max),
            situation=tracker.get_slot("situation"),
            needs=tuple(tracker.get_slot("needs") or ()),
            windows=tuple(tracker.get_slot("recommended") or ()),
            phone=tracker.get_slot("phone") if tracker.get_slot("contact_method") == "phone" else None,
            nickname=nickname if nickname and nickname != NO_NICKNAME else None,
            preferred_slot=key,
            preferred_at=slot.starts_at if slot else None,
            share_conversation=tracker.get_slot("consent") == "share",
            session_start=booking_session(tracker),
        )
