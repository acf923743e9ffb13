"""Pick up what people volunteer in their own words: who writes, age, situation, needs.

`extract_profile` is pure: it takes the message text, the NLU entities and the question
the bot just asked, and returns only what this message says. The action layer merges it
into slots and never asks again for what was said or declined.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

from bot.age import extract_age
from bot.text import normalize

LEXICON_PATH = Path(__file__).resolve().parent / "resources" / "profile_lexicon.yml"
RELATIONS = ("self", "family", "other")
NEED_KEYS = ("listen", "ibasho", "work", "school", "health", "living", "family")
# Answers to "skip this question" buttons and words; the intents carry most of them.
DECLINED = "declined"
UNKNOWN = "unknown"
MAX_SITUATION_CHARS = 300

_SUBJECT_AFTER = r"(?=\s*(が|は|の(こと|件|事)|について|も|を|、|で|と|\s|です|$))"
_OWNER_BEFORE = r"(うちの|私の|わたしの|自分の|じぶんの|僕の|俺の)"
_SCHOOL_YEAR = re.compile(r"(高校|中学|大学|小学|専門学校|[中高大小])\s*$")
_ERA = re.compile(r"(平成|令和|昭和|西暦|H|R|S)\s*$")


@dataclass(frozen=True)
class ProfileUpdate:
    relation: str | None = None
    relation_detail: str | None = None
    age_min: int | None = None
    age_max: int | None = None
    duration_years: float | None = None
    status: tuple[str, ...] = ()
    situation_text: str | None = None
    needs: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self == ProfileUpdate()


@dataclass(frozen=True)
class _Lexicon:
    concerned_family: tuple[tuple[re.Pattern[str], str], ...]
    writer_family: tuple[tuple[re.Pattern[str], str], ...]
    other: tuple[tuple[re.Pattern[str], str], ...]
    self_: tuple[re.Pattern[str], ...]
    status: tuple[tuple[re.Pattern[str], str], ...]
    duration_context: re.Pattern[str]
    needs: Mapping[str, re.Pattern[str]] = field(default_factory=dict)


@lru_cache(maxsize=1)
def lexicon() -> _Lexicon:
    raw = yaml.safe_load(LEXICON_PATH.read_text(encoding="utf-8"))
    rel = raw["relation"]

    def pairs(items: Iterable[Mapping[str, str]], key: str) -> tuple[tuple[re.Pattern[str], str], ...]:
        return tuple((re.compile(i["pattern"]), i[key]) for i in items)

    concerned = tuple(
        (re.compile(f"({_OWNER_BEFORE}{i['pattern']})|({i['pattern']}{_SUBJECT_AFTER})"), i["writer"])
        for i in rel["concerned_family"]
    )
    return _Lexicon(
        concerned_family=concerned,
        writer_family=pairs(rel["writer_family"], "writer"),
        other=pairs(rel["other"], "writer"),
        self_=tuple(re.compile(i["pattern"]) for i in rel["self"]),
        status=pairs(raw["status"], "label"),
        duration_context=re.compile(raw["duration_context"]),
        needs={k: re.compile(v) for k, v in raw["needs"].items()},
    )


def _entity_values(entities: Sequence[Mapping[str, Any]] | None, name: str) -> list[Any]:
    return [e.get("value") for e in entities or () if e.get("entity") == name and e.get("value") is not None]


def detect_relation(text: str) -> tuple[str | None, str | None]:
    """(relation, detail) from the lexicon; detail is the writer's role (親, 母, 民生委員 …)."""
    text = normalize(text)
    lex = lexicon()
    for pattern, writer in lex.other:
        if pattern.search(text):
            return "other", writer
    for pattern, writer in lex.writer_family:
        m = pattern.search(text)
        if m:
            return "family", m.expand(writer) if "\\" in writer else writer
    for pattern, writer in lex.concerned_family:
        if pattern.search(text):
            return "family", writer
    if any(p.search(text) for p in lex.self_):
        return "self", None
    return None, None


_DURATION = re.compile(
    r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>年|ヶ月|か月|カ月|ケ月|ヵ月)(?P<q>間|以上|近く|くらい|ぐらい|位|ほど|余り|あまり|半)?"
)
_HALF_YEAR = re.compile(r"半年")


def duration_years(text: str) -> float | None:
    """How long the situation has lasted, only where the sentence is about it (not ages or eras)."""
    text = normalize(text)
    lex = lexicon()
    for sentence in re.split(r"[。！？!?\n]", text):
        if not lex.duration_context.search(sentence):
            continue
        for m in _DURATION.finditer(sentence):
            before = sentence[: m.start()]
            if _SCHOOL_YEAR.search(before) or _ERA.search(before):
                continue
            tail = sentence[m.end(): m.end() + 2]
            if tail.startswith("生"):  # 2年生: a school year
                continue
            n = float(m.group("n"))
            if m.group("unit") != "年":
                n = n / 12
            elif m.group("q") == "半":
                n += 0.5
            if 0 < n <= 70:
                return round(n, 1)
        if _HALF_YEAR.search(sentence):
            return 0.5
    return None


def detect_status(text: str) -> tuple[str, ...]:
    text = normalize(text)
    return tuple(dict.fromkeys(label for p, label in lexicon().status if p.search(text)))


_WISH = re.compile(r"たい|ほしい|欲しい|相談|について|を探|できる|でき(ます|れば)|行ける|いける|ある(か|の|\?|？)|あります|知りたい|教えて|紹介|希望|望")
_WISH_WINDOW = 14


def detect_needs(
    text: str,
    entities: Sequence[Mapping[str, Any]] | None = None,
    *,
    answering: bool = False,
) -> tuple[str, ...]:
    """Needs said as wishes ("働きたい", "居場所はありますか"), not every topic in a story.

    `answering`: the message answers the needs question, so any mention counts.
    """

    def wished(start: int, end: int) -> bool:
        return answering or bool(_WISH.search(text[start: end + _WISH_WINDOW]))

    found = [
        e["value"] for e in entities or ()
        if e.get("entity") == "need" and e.get("value") in NEED_KEYS
        and wished(int(e.get("start") or 0), int(e.get("end") or 0))
    ]
    for key, pattern in lexicon().needs.items():
        if any(wished(m.start(), m.end()) for m in pattern.finditer(text)):
            found.append(key)
    return tuple(dict.fromkeys(found))


def extract_profile(
    text: str,
    entities: Sequence[Mapping[str, Any]] | None = None,
    *,
    requested_slot: str | None = None,
) -> ProfileUpdate:
    """What this one message says. `requested_slot` is the question just asked, if any.

    A bare number counts as an age only right after the age question; free text counts as
    the situation only right after the situation question.
    """
    norm = normalize(text or "")
    if norm.startswith("/"):
        # A button: only its entities count (relation, need), never the payload text.
        ent_rel = [v for v in _entity_values(entities, "relation") if v in RELATIONS]
        ent_needs = [v for v in _entity_values(entities, "need") if v in NEED_KEYS]
        return ProfileUpdate(relation=ent_rel[0] if ent_rel else None, needs=tuple(dict.fromkeys(ent_needs)))
    if not norm:
        return ProfileUpdate()

    relation, detail = detect_relation(norm)
    if relation is None:
        ent = [v for v in _entity_values(entities, "relation") if v in RELATIONS]
        relation = ent[0] if ent else None

    age_min = age_max = None
    ent_min = _entity_values(entities, "age_min")
    ent_max = _entity_values(entities, "age_max")
    if ent_min:
        age_min, age_max = int(ent_min[0]), int((ent_max or ent_min)[0])
    else:
        match = extract_age(norm, expecting_age=requested_slot == "age_status")
        if match:
            age_min, age_max = match.min, match.max

    status = detect_status(norm)
    duration = duration_years(norm)
    situation_text = None
    if requested_slot == "situation_status" or status or duration is not None:
        situation_text = norm[:MAX_SITUATION_CHARS]

    needs = detect_needs(norm, entities, answering=requested_slot == "needs_status")
    return ProfileUpdate(
        relation=relation,
        relation_detail=detail,
        age_min=age_min,
        age_max=age_max,
        duration_years=duration,
        status=status,
        situation_text=situation_text,
        needs=needs,
    )
