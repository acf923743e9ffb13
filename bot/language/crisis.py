"""Crisis detection on every user message, in every dialogue state.

The Japanese vocabulary lives in `bot/resources/crisis_lexicon.yml` (reviewed data, not
code); this module only applies it. Policy, in short (full text in docs/safety.md and the
lexicon header):

* recall first: any high-risk trigger anywhere in a message wins;
* an exclusion (calm look-alike such as 死ぬほど眠い or ゲームで殺された) cancels only the
  trigger span whose head it overlaps, never the rest of the message;
* past or explicitly denied risk (昔は死にたかったけど今は大丈夫, 自殺願望はありません) is
  never silenced: it becomes the soft category `history` with severity "low", unless a
  recurrence marker (今も, 最近また, いまだに …) says the risk is current;
* `danger_now` is never demoted.

Matching runs on a *matching view* of `bot.language.normaliser.normalize(text)`: emoji/symbols, quotes,
brackets and ・ dropped, whitespace next to non-ASCII dropped, katakana folded to hiragana, ASCII case
ignored. Patterns are folded the same way when compiled, so the lexicon is written in
natural Japanese. Each category is one precompiled alternation, scanned once per message;
exclusions and the history machinery only run when a category has already matched.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import yaml

from bot.language.normaliser import normalize
from bot.paths import RESOURCES

__all__ = [
    "CrisisCategory",
    "CrisisSignal",
    "CrisisDetector",
    "LexiconError",
    "DEFAULT_LEXICON_PATH",
    "HIGH_CATEGORIES",
    "detect_crisis",
    "default_detector",
]

DEFAULT_LEXICON_PATH = RESOURCES / "crisis_lexicon.yml"

Severity = Literal["high", "low"]


class CrisisCategory(str, Enum):
    """What kind of risk a message shows. `history` is the soft (low) category."""

    SUICIDE = "suicide"
    SELF_HARM = "self_harm"
    OVERDOSE = "overdose"
    VIOLENCE = "violence"
    CHILD_ABUSE = "child_abuse"
    ELDER_ABUSE = "elder_abuse"
    DANGER_NOW = "danger_now"
    HISTORY = "history"


HIGH_CATEGORIES: tuple[CrisisCategory, ...] = tuple(c for c in CrisisCategory if c is not CrisisCategory.HISTORY)
_POLICE_CATEGORIES = frozenset(
    {
        CrisisCategory.VIOLENCE,
        CrisisCategory.ELDER_ABUSE,
        CrisisCategory.CHILD_ABUSE,
        CrisisCategory.DANGER_NOW,
    }
)
_ORDER = {c: i for i, c in enumerate(CrisisCategory)}


@dataclass(frozen=True)
class CrisisSignal:
    """The outcome of `detect` for a message that shows any risk.

    `categories` is ordered as `CrisisCategory` declares them; with severity "high" it holds
    the high categories (plus `history` when past risk was also mentioned); with severity
    "low" it is exactly `(CrisisCategory.HISTORY,)`. `matched` holds the triggering
    fragments of the normalised text, in order of appearance (for staff review, not shown
    to the user).
    """

    categories: tuple[CrisisCategory, ...]
    severity: Severity
    matched: tuple[str, ...]

    @property
    def urgent(self) -> bool:
        """High severity: the conversation is marked urgent and crisis replies win."""
        return self.severity == "high"

    @property
    def needs_police(self) -> bool:
        """Violence, abuse or immediate danger: show 110 and #9110."""
        return any(c in _POLICE_CATEGORIES for c in self.categories)

    @property
    def needs_child_line(self) -> bool:
        """Child abuse: show 189 (児童相談所虐待対応ダイヤル)."""
        return CrisisCategory.CHILD_ABUSE in self.categories


class LexiconError(ValueError):
    """The lexicon file is malformed (unknown category, bad regex, unknown {{name}} …)."""


# ─── matching view ───────────────────────────────────────────────────────────────────────

_KATA_TO_HIRA = {cp: cp - 0x60 for cp in range(0x30A1, 0x30F7)}  # ァ..ヶ → ぁ..ゖ
# Emoji/symbols (So, Sk), format and unassigned chars, and quotes/brackets (Ps, Pe, Pi, Pf):
# 息子に「殺す」と言われた reads 殺すと言われた, 😢死にたい reads 死にたい.
_DROP_CATEGORIES = frozenset({"So", "Sk", "Cf", "Co", "Cn", "Cs", "Ps", "Pe", "Pi", "Pf"})
_DROP_CHARS = frozenset("・\u200d\u20e3\"'")
_DEF_RE = re.compile(r"\{\{([a-z_][a-z0-9_]*)\}\}")


def _fold(text: str) -> str:
    """Katakana → hiragana (length-preserving)."""
    return text.translate(_KATA_TO_HIRA)


def _dropped(ch: str) -> bool:
    if ch in _DROP_CHARS:
        return True
    cp = ord(ch)
    if 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or 0x1F3FB <= cp <= 0x1F3FF:
        return True  # variation selectors, skin tones
    return unicodedata.category(ch) in _DROP_CATEGORIES


@dataclass(frozen=True)
class _View:
    source: str  # normalised text
    text: str  # matching view
    origin: tuple[int, ...]  # index in `source` of every char of `text`

    def fragment(self, start: int, end: int) -> str:
        if start >= end:
            return ""
        return self.source[self.origin[start] : self.origin[end - 1] + 1]


def _matching_view(text: str) -> _View:
    source = normalize(text)
    kept: list[tuple[str, int]] = [(ch, i) for i, ch in enumerate(source) if not _dropped(ch)]
    out: list[str] = []
    origin: list[int] = []
    n = len(kept)
    k = 0
    while k < n:
        ch, idx = kept[k]
        if ch.isspace():
            j = k
            while j < n and kept[j][0].isspace():
                j += 1
            prev = out[-1] if out else ""
            nxt = kept[j][0] if j < n else ""
            if prev and nxt and prev.isascii() and nxt.isascii():
                out.append(" ")
                origin.append(idx)
            k = j
            continue
        out.append(ch)
        origin.append(idx)
        k += 1
    return _View(source, _fold("".join(out)), tuple(origin))


# ─── lexicon compilation ─────────────────────────────────────────────────────────────────

_FLAGS = re.IGNORECASE


def _expand(pattern: str, definitions: Mapping[str, str], where: str) -> str:
    for _ in range(20):
        if "{{" not in pattern:
            return pattern

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in definitions:
                raise LexiconError(f"{where}: unknown definition {{{{{name}}}}}")
            return definitions[name]

        pattern = _DEF_RE.sub(sub, pattern)
    raise LexiconError(f"{where}: definitions nest too deeply")


def _compile_one(pattern: Any, definitions: Mapping[str, str], where: str) -> str:
    if not isinstance(pattern, str) or not pattern.strip():
        raise LexiconError(f"{where}: patterns must be non-empty strings")
    expanded = _fold(_expand(pattern, definitions, where))
    try:
        re.compile(expanded, _FLAGS)
    except re.error as exc:
        raise LexiconError(f"{where}: invalid regex {pattern!r}: {exc}") from exc
    return expanded


def _alternation(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{p})" for p in patterns), _FLAGS)


@dataclass(frozen=True)
class _Category:
    category: CrisisCategory
    trigger: re.Pattern[str]
    exclusions: tuple[re.Pattern[str], ...]
    demotable: bool


def _covered(span: tuple[int, int], regions: Sequence[tuple[int, int]]) -> bool:
    """The span lies completely inside one region (history / negation regions)."""
    s, e = span
    return any(rs <= s and e <= re_ for rs, re_ in regions)


def _excluded(span: tuple[int, int], regions: Sequence[tuple[int, int]]) -> bool:
    """An exclusion overlaps the head of the trigger span (the trigger starts inside it).

    Only this one span is cancelled; scanning resumes one character later, so a different
    trigger elsewhere in the message (or starting after the look-alike) still fires.
    """
    s = span[0]
    return any(rs <= s < re_ for rs, re_ in regions)


def _spans(
    patterns: Sequence[re.Pattern[str]], text: str, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """All match spans of every pattern inside text[start:end] (each pattern scanned
    separately and restarted one character after each match start, so one alternative or
    one match cannot hide another that overlaps it)."""
    stop = len(text) if end is None else end
    out: list[tuple[int, int]] = []
    for pat in patterns:
        pos = start
        while pos <= stop:
            m = pat.search(text, pos, stop)
            if m is None:
                break
            if m.end() > m.start():
                out.append(m.span())
            pos = m.start() + 1
    return out


class CrisisDetector:
    """Applies the reviewed lexicon. Build once; `detect` is thread-safe and cheap."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path: Path | None = Path(path) if path is not None else DEFAULT_LEXICON_PATH
        with open(self.path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        self._load(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "CrisisDetector":
        """A detector from an already-parsed lexicon (tests, experiments)."""
        self = cls.__new__(cls)
        self.path = None
        self._load(data)
        return self

    # -- loading -----------------------------------------------------------------------
    def _load(self, data: Any) -> None:
        if not isinstance(data, Mapping):
            raise LexiconError("lexicon: top level must be a mapping")
        raw_defs = data.get("definitions") or {}
        if not isinstance(raw_defs, Mapping):
            raise LexiconError("definitions: must be a mapping")
        definitions: dict[str, str] = {}
        for name, frag in raw_defs.items():
            if not isinstance(frag, str):
                raise LexiconError(f"definitions.{name}: must be a string")
            definitions[str(name)] = _expand(frag, definitions, f"definitions.{name}")

        pon = data.get("past_or_negated") or {}
        if not isinstance(pon, Mapping):
            raise LexiconError("past_or_negated: must be a mapping")
        applies_to = {str(c) for c in (pon.get("applies_to") or ())}
        for name in applies_to:
            if name not in {c.value for c in HIGH_CATEGORIES}:
                raise LexiconError(f"past_or_negated.applies_to: unknown category {name!r}")
        if CrisisCategory.DANGER_NOW.value in applies_to:
            raise LexiconError("past_or_negated.applies_to: danger_now is never demoted")

        cats = data.get("categories")
        if not isinstance(cats, Mapping):
            raise LexiconError("categories: must be a mapping")
        rules: list[_Category] = []
        for name, body in cats.items():
            try:
                category = CrisisCategory(str(name))
            except ValueError as exc:
                raise LexiconError(f"categories.{name}: unknown category") from exc
            if category is CrisisCategory.HISTORY:
                raise LexiconError("categories.history: history is produced by past_or_negated")
            if not isinstance(body, Mapping):
                raise LexiconError(f"categories.{name}: must be a mapping")
            if body.get("severity", "high") != "high":
                raise LexiconError(f"categories.{name}: only severity high is supported")
            pats = [
                _compile_one(p, definitions, f"categories.{name}.patterns[{i}]")
                for i, p in enumerate(body.get("patterns") or ())
            ]
            if not pats:
                raise LexiconError(f"categories.{name}: no patterns")
            excl = [
                _compile_one(p, definitions, f"categories.{name}.exclusions[{i}]")
                for i, p in enumerate(body.get("exclusions") or ())
            ]
            trigger = _alternation(pats)
            assert trigger is not None
            rules.append(
                _Category(
                    category=category,
                    trigger=trigger,
                    exclusions=tuple(re.compile(p, _FLAGS) for p in excl),
                    demotable=category.value in applies_to,
                )
            )
        rules.sort(key=lambda r: _ORDER[r.category])
        self._rules: tuple[_Category, ...] = tuple(rules)

        def compiled(key: str) -> tuple[re.Pattern[str], ...]:
            return tuple(
                re.compile(_compile_one(p, definitions, f"past_or_negated.{key}[{i}]"), _FLAGS)
                for i, p in enumerate(pon.get(key) or ())
            )

        self._past = compiled("past")
        self._negated = compiled("negated")
        recurrence = [
            _compile_one(p, definitions, f"past_or_negated.recurrence[{i}]")
            for i, p in enumerate(pon.get("recurrence") or ())
        ]
        self._recurrence = _alternation(recurrence)
        tail = pon.get("past_tail")
        self._past_tail = (
            re.compile(_compile_one(tail, definitions, "past_or_negated.past_tail"), _FLAGS) if tail else None
        )

    @property
    def categories(self) -> tuple[CrisisCategory, ...]:
        return tuple(r.category for r in self._rules)

    # -- detection ---------------------------------------------------------------------
    def detect(self, text: str) -> CrisisSignal | None:
        """The crisis signal of one message, or None when it shows no risk."""
        if not text or not isinstance(text, str):
            return None
        view = _matching_view(text)
        t = view.text
        if not t:
            return None

        high: dict[CrisisCategory, None] = {}
        soft = False
        matched: list[tuple[int, int]] = []
        context: _HistoryContext | None = None

        for rule in self._rules:
            if rule.trigger.search(t) is None:  # the common case: one pass, no match
                continue
            exclusions: list[tuple[int, int]] | None = None
            for span in self._trigger_spans(rule.trigger, t):
                if rule.exclusions:
                    if exclusions is None:
                        exclusions = _spans(rule.exclusions, t)
                    if _excluded(span, exclusions):
                        continue
                if rule.demotable:
                    if context is None:
                        context = _HistoryContext(self, t)
                    if context.demotes(span):
                        soft = True
                        matched.append(span)
                        continue
                high[rule.category] = None
                matched.append(span)
                break  # one live span decides the category

        if not high and not soft:
            return None
        fragments = tuple(dict.fromkeys(view.fragment(s, e) for s, e in sorted(matched)))
        if high:
            cats = sorted(high, key=_ORDER.__getitem__)
            if soft:
                cats.append(CrisisCategory.HISTORY)
            return CrisisSignal(tuple(cats), "high", fragments)
        return CrisisSignal((CrisisCategory.HISTORY,), "low", fragments)

    @staticmethod
    def _trigger_spans(trigger: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
        # After a span, resume one character later (not at its end) so that an excluded or
        # demoted span can never hide an overlapping trigger.
        pos = 0
        n = len(text)
        while pos <= n:
            m = trigger.search(text, pos)
            if m is None:
                return
            if m.end() > m.start():
                yield m.span()
            pos = m.start() + 1


_SENTENCE_END = re.compile(r"[。.!?]")


class _HistoryContext:
    """Per-message state of the past_or_negated policy, built lazily.

    Every past/negation region is confined to one sentence (their windows never cross
    。 . ! ?), so regions are computed only for sentences that hold a candidate span.
    """

    def __init__(self, detector: CrisisDetector, text: str) -> None:
        self._text = text
        self._tail = detector._past_tail
        self._past_patterns = detector._past
        self._negated_patterns = detector._negated
        rec = detector._recurrence
        self._recurrent = bool(rec and rec.search(text))
        self._bounds = [m.start() for m in _SENTENCE_END.finditer(text)]
        self._regions: dict[tuple[int, int], tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}

    def _sentence(self, span: tuple[int, int]) -> tuple[int, int]:
        i = bisect_left(self._bounds, span[0])
        start = self._bounds[i - 1] + 1 if i > 0 else 0
        j = bisect_left(self._bounds, span[1])
        end = self._bounds[j] + 1 if j < len(self._bounds) else len(self._text)
        return start, end

    def demotes(self, span: tuple[int, int]) -> bool:
        if self._recurrent:
            return False
        key = self._sentence(span)
        regions = self._regions.get(key)
        if regions is None:
            regions = (
                _spans(self._negated_patterns, self._text, *key),
                _spans(self._past_patterns, self._text, *key),
            )
            self._regions[key] = regions
        negated, past = regions
        if _covered(span, negated):
            return True
        if _covered(span, past):
            return self._tail is None or self._tail.match(self._text, span[1]) is not None
        return False


# ─── module-level API ────────────────────────────────────────────────────────────────────


@lru_cache(maxsize=1)
def default_detector() -> CrisisDetector:
    """The detector for the shipped lexicon, built once per process."""
    return CrisisDetector()


def detect_crisis(text: str) -> CrisisSignal | None:
    """`CrisisDetector.detect` with the shipped lexicon (cached)."""
    return default_detector().detect(text)
