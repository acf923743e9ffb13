"""Whose age it is, read from GiNZA's dependency parse (the real ja_ginza model)."""

from __future__ import annotations

import pytest

from bot.language.age import extract_age
from bot.language.attribution import age_owner
from bot.language.normaliser import normalize


@pytest.fixture(scope="module")
def nlp():
    import spacy

    return spacy.load("ja_ginza")


@pytest.mark.parametrize(
    "text,owner",
    [
        ("27歳の息子のことで相談です", "concerned"),
        ("息子は27歳です", "concerned"),
        ("私も70を過ぎて体がきついです", "writer"),
        ("兄は36歳で仕事を辞めて、46歳になった現在も家にいます", "concerned"),
        ("娘は今年で三十になります", "concerned"),
    ],
)
def test_the_parse_attaches_the_age_to_its_owner(nlp, text, owner):
    norm = normalize(text)
    match = extract_age(norm)
    assert match is not None
    assert age_owner(nlp(norm), match.start, match.end) == owner


def test_the_current_age_is_the_later_one(nlp):
    match = extract_age("兄は36歳で仕事を辞めて、46歳になった現在も家にいます")
    assert (match.min, match.max) == (46, 46)
