"""Intake: pick up volunteered information, ask only what is missing, recommend windows."""

from __future__ import annotations

import asyncio
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    DECLINED,
    KNOWN,
    UNKNOWN,
    crisis_signal,
    directory,
    entity_values,
    format_date,
    greet_once,
    hotlines_payload,
    hotlines_text,
    latest_intent,
    now,
    profile_from,
    staff_hours_note,
    window_text,
)
from bot.domain.routing import Profile, Recommendation, route_windows
from bot.domain.schedule import next_occurrences
from bot.domain.steering import STEERING_ACTIONS
from bot.language.profile import extract_profile, merge_profile
from bot.language.reflect import reflect, understood_from_slots
from bot.language.replies import names_family_gathering
from bot.store.stats import record_stat, session_key

INTAKE_FORM = "intake_form"
CALLBACK_FORM = "callback_form"
# Intents whose text is never taken as an answer to the question just asked.
CONTROL_INTENTS = frozenset(
    {
        "stop",
        "start_over",
        "crisis",
        "faq",
        "show_hotlines",
        "delete_data",
        "request_human",
        "ibasho_schedule",
        "thanks",
        "continue_session",
        "unfollow",
        "staff_reply",
        "reassure",
        "greet",
    }
)
# Intents that carry what people volunteer, so a message with information answers questions.
# A request (callback, windows, a person) is never the answer to the question just asked,
# though the facts it volunteers (「兄が45歳で…折り返しを」) are still picked up.
ANSWERING_INTENTS = frozenset({"inform", "affirm", "deny", "nlu_fallback", "out_of_scope"})
WANTS_WINDOWS_INTENTS = frozenset({"ask_where_to_go"})
# Intents that always win over reading a message as an answer.
VETO_INTENTS = frozenset({"crisis", "stop", "start_over", "delete_data"})
NEVER_AN_ANSWER = VETO_INTENTS | {"skip", "dont_know", "request_human"}
SKIP_INTENTS = {"skip": DECLINED, "dont_know": UNKNOWN}
# Messages that are no reply to the question just asked: the question comes back after them.
NOT_A_REPLY = VETO_INTENTS | frozenset(STEERING_ACTIONS) | {"show_hotlines", "faq", "ibasho_schedule", "correct"}
# The question slot each piece of information answers.
QUESTION_FOR = {
    "relation": "relation_status",
    "age": "age_status",
    "situation": "situation_status",
    "needs": "needs_status",
}
DECADE_MAX = {60: 79}


_QUESTION_MARK = re.compile(r"[?？]|ですか|ますか|って|とは|どんな|なに|何")


def _is_short_answer(text: str) -> bool:
    return len(text.strip()) <= 12 and not _QUESTION_MARK.search(text)


def _age_from_decade(value: Any) -> Optional[tuple[int, int]]:
    try:
        decade = int(str(value).strip())
    except ValueError:
        return None
    if decade not in (10, 20, 30, 40, 50, 60):
        return None
    return decade, DECADE_MAX.get(decade, decade + 9)


class ActionExtractProfile(Action):
    """Runs after every user message (custom slot mapping): never asks, only listens."""

    def name(self) -> Text:
        return "action_extract_profile"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        intent = latest_intent(tracker)
        text = tracker.latest_message.get("text") or ""
        entities = tracker.latest_message.get("entities") or []
        requested = tracker.get_slot("requested_slot") if tracker.active_loop_name == INTAKE_FORM else None
        changes: Dict[str, Any] = {}

        _categories, severity = crisis_signal(tracker)
        if severity == "low" and intent != "crisis":
            # Past or mild signals: no alarm, but the lines are in reach on this very turn.
            dispatcher.utter_message(response="utter_crisis_soft")
            dispatcher.utter_message(
                text=hotlines_text(), json_message={"hotlines": hotlines_payload(), "text": hotlines_text()}
            )

        if requested == "recommendation_done":
            if intent in ("request_callback", "affirm"):
                changes["recommendation_done"] = "callback"
            elif intent in ("deny", "skip", "dont_know", "thanks", "reassure"):
                changes["recommendation_done"] = "none"

        # 「年齢は言いたくないです」: that question is declined, wherever the message stands.
        for topic in entity_values(tracker, "declined"):
            slot = QUESTION_FOR.get(str(topic))
            if slot and tracker.get_slot(slot) is None and not _known(tracker, str(topic)):
                changes[slot] = DECLINED

        named = {QUESTION_FOR.get(str(t)) for t in entity_values(tracker, "declined")} - {None}
        if (
            requested is not None
            and requested in QUESTION_FOR.values()
            and intent in SKIP_INTENTS
            and (not named or requested in named)
        ):
            changes[requested] = SKIP_INTENTS[intent]
            return self._events(tracker, changes)

        if intent in WANTS_WINDOWS_INTENTS:
            changes["wants_recommendation"] = True

        answering = intent not in CONTROL_INTENTS and intent in ANSWERING_INTENTS
        if requested == "needs_status" and intent not in NEVER_AN_ANSWER and _is_short_answer(text):
            # 「居場所」 typed as the answer looks like the 居場所 FAQ or its dates; a bare word
            # right after the question is an answer whatever the classifier thinks.
            answering = True
        known = tracker.get_slot("relation")
        update = extract_profile(
            text,
            entities,
            requested_slot=requested if answering else None,
            known_relation=known if known in ("self", "family", "other") else None,
            known_concerned=tracker.get_slot("concerned") if known == "family" else None,
        )
        answered: List[str] = []

        decade = next(iter(entity_values(tracker, "age_decade")), None)
        merged = merge_profile(
            tracker.current_slot_values(),
            update,
            text=text,
            age_button=_age_from_decade(decade) if decade is not None else None,
        )
        changes.update(merged)
        if update.relation or "relation" in merged:
            answered.append("relation")
        if "age_min" in merged:
            answered.append("age")

        if update.status:
            status_labels = list(dict.fromkeys([*(tracker.get_slot("status_labels") or []), *update.status]))
            changes["status_labels"] = status_labels
        if update.duration_years is not None:
            changes["duration_years"] = update.duration_years
        if update.situation_text and (answering or update.status or update.duration_years is not None):
            changes["situation"] = update.situation_text
            answered.append("situation")

        if update.needs:
            changes["needs"] = list(dict.fromkeys([*(tracker.get_slot("needs") or []), *update.needs]))
            answered.append("needs")

        # Only a message that answers marks questions as answered; a FAQ that mentions an age
        # still fills the age, but leaves the form free to answer the FAQ first.
        if answering:
            for item in answered:
                changes[QUESTION_FOR[item]] = KNOWN
        # A reply that does not answer (「はい」, something not understood) leaves the question
        # as unknown and the intake moves on: the same question is never asked twice in a row.
        # After a FAQ or a request the question comes back, but never a third time.
        asked = next((item for item, q in QUESTION_FOR.items() if q == requested), None)
        if (
            asked
            and requested is not None  # asked is the question requested_slot names
            and (intent not in NOT_A_REPLY or times_asked(tracker, requested) >= MAX_ASKS)
            and intent not in VETO_INTENTS
            and changes.get(requested) is None
            and asked not in answered
            and not _known(tracker, asked)
        ):
            changes[requested] = UNKNOWN
        events = self._events(tracker, changes)
        if events or _first_message_of_session(tracker):
            await record_consultation(tracker, changes)
        return events

    @staticmethod
    def _events(tracker: Tracker, changes: Dict[str, Any]) -> List[EventType]:
        return [SlotSet(k, v) for k, v in changes.items() if tracker.get_slot(k) != v]


MAX_ASKS = 2


def times_asked(tracker: Tracker, slot: str) -> int:
    """How often this session asked for `slot`: the form sets `requested_slot` each time it asks
    (its ask action runs inside the form and leaves no event of its own)."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        count += event.get("event") == "slot" and event.get("name") == "requested_slot" and event.get("value") == slot
    return count


def _session_user_texts(tracker: Tracker) -> List[str]:
    texts: List[str] = []
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "user":
            texts.append(str(event.get("text") or ""))
    return texts


def _first_message_of_session(tracker: Tracker) -> bool:
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        users += event.get("event") == "user"
    return users <= 1


async def record_consultation(tracker: Tracker, changes: Dict[str, Any]) -> None:
    """Anonymous 実態把握 row for this conversation (no text, no id), off the event loop."""
    slots = {**tracker.current_slot_values(), **changes}
    await asyncio.to_thread(
        record_stat,
        "consultation",
        tracker.sender_id,
        session_key(tracker.events),
        relation=slots.get("relation"),
        age_band=directory().age_band(slots.get("age_min"), slots.get("age_max")),
        needs=tuple(slots.get("needs") or ()),
        at=now(),
    )


def _known(tracker: Tracker, item: str) -> bool:
    if item == "relation":
        return tracker.get_slot("relation") in ("self", "family", "other")
    if item == "age":
        return tracker.get_slot("age_min") is not None
    if item == "situation":
        return bool(tracker.get_slot("situation"))
    return bool(tracker.get_slot("needs"))


class ValidateIntakeForm(FormValidationAction):
    """Asks only what is neither known nor declined; asking where to go cuts it to one question."""

    def name(self) -> Text:
        return "validate_intake_form"

    async def required_slots(
        self,
        domain_slots: List[Text],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> List[Text]:
        questions = [q for item, q in QUESTION_FOR.items() if tracker.get_slot(q) is None and not _known(tracker, item)]
        if tracker.get_slot("wants_recommendation"):
            # "Where can I go?" is answered at once, with what is known.
            questions = []
        return [*questions, "recommendation_done"]


class ActionOpenIntake(Action):
    """Greets once per session and re-opens the recommendation step of the intake."""

    def name(self) -> Text:
        return "action_open_intake"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events: List[EventType] = greet_once(dispatcher, tracker)
        if tracker.get_slot("recommendation_done") is not None:
            # Every way into the intake ends with an up-to-date recommendation.
            events.append(SlotSet("recommendation_done", None))
        return events


def recommend(dispatcher: CollectingDispatcher, profile: Profile, *, partial: bool) -> List[str]:
    """Send 1–3 windows (text + channel-neutral payload). Returns the window ids."""
    d = directory()
    today = now().date()
    recs = route_windows(profile, d, today=today)
    dispatcher.utter_message(response="utter_recommend_intro_partial" if partial else "utter_recommend_intro")
    for rec in recs:
        dispatcher.utter_message(response="utter_window", **window_text(rec))
    dispatcher.utter_message(json_message={"windows": [r.to_payload(d) for r in recs]})
    if any(not r.window.has_contact for r in recs):
        dispatcher.utter_message(response="utter_window_needs_callback")
    return [r.window.id for r in recs]


class ActionAskRecommendation(Action):
    """The intake form's last step: recommend, then offer a callback (the form's question)."""

    def name(self) -> Text:
        return "action_ask_recommendation_done"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        profile = profile_from(tracker)
        partial = not (profile.age_known and profile.needs)
        understood = understood_from_slots(tracker.current_slot_values())
        sentence = reflect(understood, directory().need_label)
        if sentence and tracker.get_slot("reflected") != sentence:
            # What was understood, once, with a way to correct it (button or words).
            dispatcher.utter_message(response="utter_reflect", understood=sentence)
        elif (
            latest_intent(tracker) not in WANTS_WINDOWS_INTENTS
            and tracker.get_slot("recommended")
            and tracker.get_slot("recommended")
            == [r.window.id for r in route_windows(profile, directory(), today=now().date())]
        ):
            # Nothing new since the list was given: the person goes on telling. Take it in, and
            # make the offer only every other time (never the same words again and again).
            offers = times_asked(tracker, "recommendation_done")
            dispatcher.utter_message(response="utter_heard_more" if offers % 2 else "utter_offer_callback")
            return []
        ids = recommend(dispatcher, profile, partial=partial)
        dispatcher.utter_message(response="utter_offer_callback")
        staff_hours_note(dispatcher)
        await record_recommendation(tracker, profile, ids)
        return [SlotSet("recommended", ids), SlotSet("reflected", sentence)]


async def record_recommendation(tracker: Tracker, profile: Profile, ids: List[str]) -> None:
    """The anonymous statistic of windows shown (relation, age band, needs, windows)."""
    await asyncio.to_thread(
        record_stat,
        "recommendation",
        tracker.sender_id,
        session_key(tracker.events),
        relation=profile.relation,
        age_band=directory().age_band(profile.age_min, profile.age_max),
        needs=profile.needs,
        windows=ids,
        at=now(),
    )


class ActionIbashoSchedule(Action):
    """Next two dates of each 居場所 with a recurring rule that fits the person's age."""

    def name(self) -> Text:
        return "action_ibasho_schedule"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        d = directory()
        profile = profile_from(tracker)
        if profile.relation == "family" and names_family_gathering(_session_user_texts(tracker)):
            # A relative asking when the families meet: the windows that know the family groups.
            ids = recommend(dispatcher, profile, partial=not (profile.age_known and profile.needs))
            await record_recommendation(tracker, profile, ids)
            return [SlotSet("recommended", ids)]
        band = profile.age_band
        today = now().date()
        found = False
        for w in d.windows:
            if not w.schedule or (band and not w.age.overlaps(*band)):
                continue
            if not found:
                dispatcher.utter_message(response="utter_ibasho_intro")
                found = True
            dates = next_occurrences(w.schedule, today)
            reasons = [
                w.schedule.label,
                d.reasons["schedule"].format(dates=d.reasons["list_sep"].join(format_date(x) for x in dates)),
            ]
            if not w.age.unrestricted:
                reasons.append(d.reasons["age"].format(ages=w.age.label(d.reasons)))
            details = [w.what]
            place = " ".join(x for x in (w.place_name, w.address) if x)
            if place:
                details.append(d.fmt("place", place=place))
            dispatcher.utter_message(
                response="utter_window",
                name=w.name,
                reasons="\n".join(d.fmt("reason", text=r) for r in reasons),
                details="\n".join(details),
            )
        if not found:
            dispatcher.utter_message(response="utter_ibasho_none")
        return []


class ActionOfferHuman(Action):
    """A person: the city's anchor window to phone, and a callback offer."""

    def name(self) -> Text:
        return "action_offer_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        profile = profile_from(tracker)
        events: List[EventType] = []
        if profile.relation or profile.age_known or profile.needs:
            # Once something is known, the windows that fit it come with the offer of a person:
            # 「役所に言うてもええもんかね」 asks for both, and a person asked for is one of them.
            ids = recommend(dispatcher, profile, partial=not (profile.age_known and profile.needs))
            await record_recommendation(tracker, profile, ids)
            events.append(SlotSet("recommended", ids))
        else:
            anchor = next((w for w in directory().windows if w.anchor and w.dialable_phone), None)
            if anchor:
                dispatcher.utter_message(response="utter_window", **window_text(Recommendation(anchor, ())))
        dispatcher.utter_message(response="utter_human_offer")
        staff_hours_note(dispatcher)
        return events


class ActionPauseForPerson(ActionOfferHuman):
    """「人と話したい」 in the middle of the intake: the offer of a person, and the questions
    pause (no intake question under it); the next message decides how to go on."""

    def name(self) -> Text:
        return "action_pause_for_person"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> List[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        return [*events, ActiveLoop(None), SlotSet("requested_slot", None), FollowupAction("action_listen")]
