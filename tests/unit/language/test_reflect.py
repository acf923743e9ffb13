"""The reflection says back only what is certain (issue 18): a relation or an age that was
inferred routes the person, but is never said back as fact."""

from __future__ import annotations

from bot.language.facts import Strength
from bot.language.reflect import reflect, understood_from_slots


def said(slots: dict) -> str | None:
    return reflect(understood_from_slots(slots))


def test_a_stated_relation_and_age_are_said_back():
    text = said(
        {
            "relation": "family",
            "concerned": "息子",
            "age_min": 42.0,
            "age_max": 42.0,
            "status_labels": ["自室にこもりがち"],
            "fact_strength": {"relation": int(Strength.STATED), "age": int(Strength.STATED)},
        }
    )
    assert text == "42歳の息子さんが、部屋にこもりがちな状況なのですね。"


def test_an_inferred_relation_is_never_said_back():
    text = said(
        {
            "relation": "self",
            "age_min": 30.0,
            "age_max": 30.0,
            "status_labels": ["離職"],
            "fact_strength": {"relation": int(Strength.INFERRED), "age": int(Strength.STATED)},
        }
    )
    assert text is not None and "ご自身" not in text and "その方" not in text
    assert text == "お仕事を離れている状況なのですね。"


def test_an_inferred_age_is_never_said_back():
    text = said(
        {
            "relation": "family",
            "concerned": "娘",
            "age_min": 52.0,
            "age_max": 52.0,
            "fact_strength": {"relation": int(Strength.STATED), "age": int(Strength.INFERRED)},
        }
    )
    assert text == "娘さんのことでのご相談ですね。"


def test_a_button_counts_as_certain():
    text = said({"relation": "self", "fact_strength": {"relation": int(Strength.BUTTON)}})
    assert text == "ご自身のことでのご相談ですね。"


def test_nothing_certain_means_no_sentence():
    assert said({"relation": "family", "concerned": "夫", "fact_strength": {}}) is None
