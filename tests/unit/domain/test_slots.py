"""The callback booking's free-text answers (bot/domain/slots.py), read without Rasa."""

from __future__ import annotations

import pytest

from bot.domain.phone import looks_like_a_number
from bot.domain.slots import NO_NICKNAME, clean_nickname, contact_method_named, wants_any_time


@pytest.mark.parametrize(
    "text,method",
    [
        ("電話でお願いします", "phone"),
        ("けいたいに", "phone"),
        ("このチャットで", "chat"),
        ("LINEで大丈夫です", "chat"),
        ("はい", None),
    ],
)
def test_the_contact_method_is_read_from_the_words(text, method):
    assert contact_method_named(text) == method


@pytest.mark.parametrize("text,any_time", [("いつでもいいです", True), ("特になし", True), ("月曜の午前", False)])
def test_any_time(text, any_time):
    assert wants_any_time(text) is any_time


def test_a_nickname_keeps_letters_and_drops_what_breaks_a_screen_or_a_csv_cell():
    assert clean_nickname("はなこ🌸") == "はなこ"
    assert clean_nickname("=cmd|' /C calc'!A0") == "cmd C calcA0"
    assert clean_nickname("あ" * 40) == "あ" * 20
    assert clean_nickname("🌸🌸") == NO_NICKNAME


@pytest.mark.parametrize("text,attempt", [("090-12", True), ("０９０", True), ("電話は無理です", False), ("12", False)])
def test_three_digits_are_an_attempt_at_a_number(text, attempt):
    assert looks_like_a_number(text) is attempt
