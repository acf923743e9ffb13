"""Phone numbers typed into free text (issue 21, M-8): found and replaced, nothing else touched."""

from __future__ import annotations

import pytest

from bot.domain.phone import redact_phones


@pytest.mark.parametrize(
    "text,expected",
    [
        ("夜は090-1234-5678にかけてください", "夜は［番号］にかけてください"),
        ("０９０ １２３４ ５６７８ まで", "［番号］ まで"),
        ("固定は 0848-12-3456 です", "固定は ［番号］ です"),
        ("+81 90 1234 5678", "［番号］"),
    ],
)
def test_every_phone_number_in_free_text_is_replaced(text, expected):
    assert redact_phones(text, "［番号］") == expected


@pytest.mark.parametrize(
    "text", ["息子は2010年から3年間家にいます", "年収は300万円です", "12345678901234", "", "2026-12-07 に相談"]
)
def test_dates_amounts_and_other_digits_are_left_as_they_are(text):
    assert redact_phones(text, "［番号］") == text
