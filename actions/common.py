"""Helpers shared by the actions: slots ↔ domain objects, and plain-text rendering.

Actions stay thin: decisions live in `bot/`; wording lives in domain.yml (responses) and in
the directory YAML (`formats`, `reasons`). This module only adapts Rasa's tracker.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.domain import privacy_notice
from bot.domain.directory import Directory, get_directory
from bot.domain.routing import Profile, Recommendation
from bot.domain.schedule import CallbackSlot, is_business_time, next_business_opening, now_jst

DECLINED = "declined"
UNKNOWN = "unknown"
KNOWN = "known"

PROFILE_SLOTS = (
    "relation",
    "relation_detail",
    "concerned",
    "fact_strength",
    "age_min",
    "age_max",
    "age_status",
    "duration_years",
    "status_labels",
    "situation",
    "situation_status",
    "needs",
    "needs_status",
    "wants_recommendation",
    "recommended",
)
CALLBACK_SLOTS = (
    "consent",
    "share_conversation",
    "contact_method",
    "phone",
    "preferred_slot",
    "nickname",
    "confirm",
)


def directory() -> Directory:
    return get_directory()


def now() -> datetime:
    """Current time in Japan (bot.clock; MADOGUCHI_NOW starts it at a moment for demos)."""
    return now_jst()


def privacy_url() -> str:
    """The link to the privacy notice, or its text when no one could open a link (bot.domain.privacy_notice)."""
    return privacy_notice.reference()


def greet_once(dispatcher: CollectingDispatcher, tracker: Tracker) -> List[Any]:
    """The greeting, once per session, whatever the first message was (SlotSet events)."""
    if tracker.get_slot("greeted"):
        return []
    response = "utter_greet_returning" if tracker.get_slot("returning") else "utter_greet"
    dispatcher.utter_message(response=response, privacy_url=privacy_url())
    return [SlotSet("greeted", True)]


def profile_from(tracker: Tracker) -> Profile:
    relation = tracker.get_slot("relation")
    return Profile(
        relation=relation if relation in ("self", "family", "other") else None,
        age_min=tracker.get_slot("age_min"),
        age_max=tracker.get_slot("age_max"),
        needs=tuple(tracker.get_slot("needs") or ()),
    )


def entity_values(tracker: Tracker, name: str) -> List[Any]:
    return [e.get("value") for e in tracker.latest_message.get("entities", []) if e.get("entity") == name]


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message.get("intent") or {}).get("name")


def crisis_signal(tracker: Tracker) -> tuple[List[str], Optional[str]]:
    """(categories, severity) that the CrisisDetector attached to the latest message."""
    cats = list(dict.fromkeys(str(v) for v in entity_values(tracker, "crisis_category")))
    sev = next((str(v) for v in entity_values(tracker, "crisis_severity")), None)
    return cats, sev


def hotlines_text() -> str:
    d = directory()
    return "\n".join(
        d.fmt("hotline", name=h.name, phone=h.phone, hours=d.fmt("hotline_hours", hours=h.hours) if h.hours else "")
        for h in d.hotlines
    )


def hotlines_payload() -> List[Dict[str, Any]]:
    return [{"name": h.name, "phone": h.phone, "hours": h.hours} for h in directory().hotlines]


def emergency_text(line_ids: List[str]) -> str:
    d = directory()
    return "\n".join(
        d.fmt("emergency", when=e.when, phone=e.phone, name=e.name) for e in (d.emergency_line(i) for i in line_ids)
    )


def utter_hotlines(dispatcher: CollectingDispatcher, buttons: Optional[List[Dict[str, str]]] = None) -> None:
    """The verified 24-hour lines as one message (LINE allows 5 objects per reply)."""
    dispatcher.utter_message(response="utter_hotlines_header")
    dispatcher.utter_message(
        text=hotlines_text(),
        buttons=buttons or [],
        json_message={"hotlines": hotlines_payload(), "text": hotlines_text()},
    )


def format_moment(moment: datetime) -> str:
    d = directory()
    return d.fmt(
        "moment",
        month=moment.month,
        day=moment.day,
        weekday=d.weekday(moment.date()),
        hour=moment.hour,
        minute=f"{moment.minute:02d}",
    )


def format_date(day: date) -> str:
    d = directory()
    return d.fmt("date", month=day.month, day=day.day, weekday=d.weekday(day))


def slot_label(slot: CallbackSlot) -> str:
    d = directory()
    return d.fmt("slot", month=slot.day.month, day=slot.day.day, weekday=d.weekday(slot.day), period=slot.period.label)


def staff_hours_note(dispatcher: CollectingDispatcher, moment: Optional[datetime] = None) -> bool:
    """Say when staff will read this, if it is out of hours. Returns True if it was said."""
    m = moment or now()
    service = directory().service
    if is_business_time(m, service):
        return False
    dispatcher.utter_message(
        response="utter_staff_will_see", staff_back=format_moment(next_business_opening(m, service))
    )
    return True


def window_text(rec: Recommendation) -> Dict[str, str]:
    """Template values for `utter_window` (plain text; LINE/Telegram render the payload)."""
    d = directory()
    w = rec.window
    details = [w.what]
    place = " ".join(x for x in (w.place_name, w.address) if x)
    if place:
        details.append(d.fmt("place", place=place))
    when = w.hours or (w.schedule.label if w.schedule else None)
    if when:
        details.append(d.fmt("when", when=when))
    if w.dialable_phone:
        details.append(d.fmt("phone", phone=w.dialable_phone))
    if w.url:
        details.append(w.url)
    return {
        "name": w.name,
        "reasons": "\n".join(d.fmt("reason", text=r) for r in rec.reasons),
        "details": "\n".join(details),
    }
