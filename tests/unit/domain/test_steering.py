"""Which path a request starts while a form is open (bot.domain.steering.steer_action)."""

from __future__ import annotations

import pytest

from bot.domain.steering import steer_action

INTAKE, BOOKING = "intake_form", "callback_form"


@pytest.mark.parametrize(
    "intent,loop,action",
    [
        ("request_callback", INTAKE, "action_deactivate_loop"),  # the booking follows (data/rules)
        ("request_callback", BOOKING, None),  # already booking: 「電話で」 answers its question
        ("request_human", INTAKE, "action_pause_for_person"),
        ("request_human", BOOKING, "action_offer_human"),
        ("ask_where_to_go", INTAKE, "action_steer_windows"),
        ("ask_where_to_go", BOOKING, "action_steer_windows"),
        ("stop", BOOKING, "action_stop"),
        ("start_over", INTAKE, "action_start_over"),
        ("delete_data", INTAKE, "action_ask_delete"),
        ("faq", INTAKE, "utter_faq"),
        ("ibasho_schedule", BOOKING, "action_ibasho_schedule"),
        ("inform", INTAKE, None),  # an answer stays an answer
        ("request_callback", None, None),  # no form open: the rules decide
    ],
)
def test_requests_start_their_path_while_a_form_is_open(intent, loop, action):
    assert steer_action(intent, loop) == action


def test_words_free_messages_are_said_not_understood_in_the_intake_only():
    assert steer_action("nlu_fallback", INTAKE, not_understood=True) == "action_gentle_fallback"
    assert steer_action("nlu_fallback", BOOKING, not_understood=True) is None


def test_a_no_with_nothing_open_is_heard_and_the_door_left_open():
    """「やっぱり今日はやめておきます」 after the windows or the offer of a person: not "did not
    understand"; the erasure's own yes/no question keeps its rules."""
    assert steer_action("deny", None) == "utter_no_worries"
    assert steer_action("deny", None, confirming=True) is None
    assert steer_action("deny", INTAKE) is None  # the form reads it against its question
