"""The one lexicon of words for people (bot/resources/kinship.yml): kinship, roles, school stages.

Every reader of who is who (the writer attribution, the parse-based age owner, the reflection)
takes its words from here, so a word added once (せがれ) is known everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import yaml

from bot.paths import RESOURCES

RESOURCE = RESOURCES / "kinship.yml"


@dataclass(frozen=True)
class Kin:
    key: str
    words: tuple[str, ...]
    writer: str
    said: str
    subject_only: bool = False
    not_before: tuple[str, ...] = ()  # 子ども but not 子どもの頃; 兄 but not 兄弟
    not_after: tuple[str, ...] = ()  # 夫 but not 大丈夫, 工夫 (single characters before the word)

    @property
    def pattern(self) -> str:
        """The regex for this group's words, with its guards."""
        guard = f"(?!{alternation(self.not_before)})" if self.not_before else ""
        behind = "".join(f"(?<!{re.escape(ch)})" for ch in self.not_after)
        return f"{behind}(?:{alternation(self.words)}){guard}"


@dataclass(frozen=True)
class Kinship:
    kin: tuple[Kin, ...]
    others_kin: tuple[str, ...]
    first_person: tuple[str, ...]
    neutral: tuple[str, ...]
    writer_side: tuple[str, ...]
    siblings_generic: tuple[str, ...]
    own_parents: tuple[str, ...]
    roles: Mapping[str, tuple[str, ...]]
    school_stages: Mapping[str, tuple[int, int]]
    pupils: tuple[str, ...] = ()

    def kin_words(self, *, subject_only: bool | None = None) -> tuple[str, ...]:
        """All family words, longest first (so 兄貴 is read before 兄)."""
        words = [w for k in self.kin if subject_only is None or k.subject_only == subject_only for w in k.words]
        return tuple(sorted(dict.fromkeys(words), key=len, reverse=True))

    def words_of(self, *keys: str) -> list[str]:
        """The words of these kin groups (son, daughter, …), in lexicon order."""
        return [w for k in self.kin if k.key in keys for w in k.words]

    def kin_of(self, word: str) -> Kin | None:
        return next((k for k in self.kin if word in k.words), None)

    def said_back(self) -> dict[str, str]:
        """word → how the bot says it back (息子 → 息子さん)."""
        return {w: k.said for k in self.kin if not k.subject_only for w in k.words}

    def role_words(self) -> tuple[str, ...]:
        words = [w for key, ws in self.roles.items() if key != "concerned_by_role" for w in ws]
        return tuple(sorted(dict.fromkeys(words), key=len, reverse=True))


@lru_cache(maxsize=1)
def kinship() -> Kinship:
    raw = yaml.safe_load(RESOURCE.read_text(encoding="utf-8"))
    return Kinship(
        kin=tuple(
            Kin(
                key,
                tuple(v["words"]),
                v["writer"],
                v["said"],
                bool(v.get("subject_only")),
                tuple(v.get("not_before") or ()),
                tuple(v.get("not_after") or ()),
            )
            for key, v in raw["kin"].items()
        ),
        others_kin=tuple(raw["others_kin"]),
        first_person=tuple(raw["first_person"]),
        neutral=tuple(raw["neutral"]),
        writer_side=tuple(raw["writer_side"]),
        siblings_generic=tuple(raw["siblings_generic"]),
        own_parents=tuple(raw["own_parents"]),
        roles={k: tuple(v) for k, v in raw["roles"].items()},
        school_stages={k: (int(v[0]), int(v[1])) for k, v in raw["school_stages"].items()},
        pupils=tuple(raw["pupils"]),
    )


def alternation(words: tuple[str, ...] | list[str]) -> str:
    """A regex alternation of literal words, longest first."""
    return "|".join(re.escape(w) for w in sorted(dict.fromkeys(words), key=len, reverse=True))


def school_stage_band(text: str) -> tuple[int, int] | None:
    """The age band of a pupil whose school stage the message names (担任している中学校の生徒),
    or None when no pupil is named or the stages named disagree."""
    k = kinship()
    if not re.search(alternation(k.pupils), text):
        return None
    stages = {k.school_stages[m.group(0)] for m in re.finditer(alternation(tuple(k.school_stages)), text)}
    return stages.pop() if len(stages) == 1 else None
