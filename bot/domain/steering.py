"""Where the person steers: the intents that start their own path at every point of the dialogue.

Forms in Rasa keep control while they can fill a slot from the message, so a callback request
typed in the middle of the intake used to be read as the answer to the question. The
`SteeringPolicy` (bot/rasa_plugins/steering_policy.py) asks `steer_action` first, in every state.
"""

from __future__ import annotations

CALLBACK_FORM = "callback_form"

# intent → the action that starts that path while a form is open (the rules then resume the
# form, or, for a callback, go on to the booking). With no form open the rules alone decide.
STEERING_ACTIONS: dict[str, str] = {
    "request_callback": "action_deactivate_loop",
    "request_human": "action_offer_human",
    "ask_where_to_go": "action_steer_windows",
    "stop": "action_stop",
    "start_over": "action_start_over",
    "delete_data": "action_ask_delete",
    "show_hotlines": "action_show_hotlines",
    "ibasho_schedule": "action_ibasho_schedule",
    "faq": "utter_faq",
    "correct": "utter_ask_correction",
}


INTAKE_FORM = "intake_form"
NOT_UNDERSTOOD_ENTITY = "not_understood"


# A no with nothing open (after the windows, the offer of a person): the offer is declined, and
# the door stays open. Answered here so that no story has to foresee it.
DECLINED_WITH_NOTHING_OPEN = "utter_no_worries"


def steer_action(
    intent: str | None, active_loop: str | None, *, not_understood: bool = False, confirming: bool = False
) -> str | None:
    """The action that answers `intent` now, or None when the dialogue's own flow should.

    `not_understood`: the message has no words at all (bot.language.replies.is_gibberish); in the intake
    that is said, so the second one in a row gets the way forward.
    `confirming`: a yes/no question outside the forms is open (the erasure's, the crisis check's),
    and its rules answer.
    """
    if intent == "deny" and active_loop is None and not confirming:
        return DECLINED_WITH_NOTHING_OPEN
    if intent is None or active_loop is None:
        return None  # no form to swallow the request: the rules answer it (data/rules)
    if intent == "request_callback" and active_loop == CALLBACK_FORM:
        return None  # already booking: 「電話でお願いします」 answers the form's question
    if intent == "request_human" and active_loop == INTAKE_FORM:
        return "action_pause_for_person"  # no intake question under the offer of a person
    if not_understood and active_loop == INTAKE_FORM:
        return "action_gentle_fallback"
    return STEERING_ACTIONS.get(intent)
