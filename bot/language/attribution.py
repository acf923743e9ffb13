"""Whose age a mention is, read from GiNZA's dependency parse.

27歳の息子 (歳 —nmod→ 息子), 息子は27歳 (息子 —nsubj→ 歳) and 兄は…46歳になった現在 are the
person concerned's; in 私も70を過ぎて体がきつい the age is the object of a clause whose subject
is 私, so it is the writer's. Pure: takes a parsed spaCy Doc, does no I/O.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from bot.language.kinship import kinship

# Both word lists come from the one lexicon (bot/resources/kinship.yml).
WRITER_WORDS = frozenset(kinship().first_person) | frozenset(kinship().writer_side)
CONCERNED_WORDS = frozenset(kinship().kin_words(subject_only=False)) | {"本人", "当事者", "子"}
_SUBJECT_DEPS = frozenset({"nsubj", "nsubj:pass", "csubj"})
_MAX_HOPS = 6
# The served pipeline parses on demand (bot.rasa_plugins.runtime): a doc without a parse gets one here.
_parser: Callable[[Any], Any] | None = None


def use_dependency_parser(parser: Callable[[Any], Any] | None) -> None:
    """The callable that adds GiNZA's dependency parse to a doc made without it."""
    global _parser
    _parser = parser


def _dep(token: Any) -> str:
    # Without GiNZA's bunsetu_recognizer the labels carry a suffix (nsubj_bunsetu).
    return str(token.dep_).removesuffix("_bunsetu")


def _owner_of(token: Any) -> str | None:
    for word in (token.lemma_, token.text):
        if word in CONCERNED_WORDS:
            return "concerned"
        if word in WRITER_WORDS:
            return "writer"
    return None


def _subjects(token: Any) -> Iterable[Any]:
    return (c for c in token.children if _dep(c) in _SUBJECT_DEPS)


def age_owner(doc: Any, start: int, end: int) -> str | None:
    """ "concerned", "writer" or None for the age written at characters [start, end) of `doc`."""
    if _parser is not None and not doc.has_annotation("DEP"):
        doc = _parser(doc)
    tokens = [t for t in doc if t.idx < end and t.idx + len(t.text) > start]
    if not tokens:
        return None
    # The head of the mention: 歳 for 「27 歳」, the number itself for 「70 を過ぎ」.
    head = next((t for t in tokens if t.head not in tokens or t.head == t), tokens[-1])
    # 27歳の息子: the age modifies a person noun.
    if _dep(head) in ("nmod", "amod", "compound") and head.head is not head:
        owner = _owner_of(head.head)
        if owner:
            return owner
    node = head
    for _ in range(_MAX_HOPS):
        for subject in _subjects(node):
            owner = _owner_of(subject)
            if owner:
                return owner
        if node.head is node:
            break
        node = node.head
    # 兄は…辞めて、46歳になった現在も家にいます: the sentence's subject sits in another clause.
    sentence = head.sent if doc.has_annotation("SENT_START") else doc
    for token in sentence:
        if _dep(token) in _SUBJECT_DEPS:
            owner = _owner_of(token)
            if owner:
                return owner
    return None
