"""The evaluation cases under tests/conversations/: loading, gold labels and the seed's window rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

HERE = Path(__file__).resolve().parent
KINDS = ("first_messages", "multi_turn", "steering")
SIGNALS = frozenset(
    {
        "windows",
        "hotlines",
        "callback",
        "booked",
        "human",
        "fallback",
        "restart",
        "stopped",
        "erase",
        "faq",
        "ibasho_dates",
        "greeting",
        "asks_relation",
        "asks_age",
        "asks_situation",
        "asks_needs",
        "reflect",
        # Real-derived tier: a request for a person is met by the booking or by the offer of a person;
        # "where do I go" by windows (or, in a crisis, by the crisis lines).
        "person",
        "guided",
    }
)
RELATIONS = ("self", "family", "other")


@dataclass(frozen=True)
class Turn:
    user: str
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gold:
    relation: str | None
    age: tuple[int, int] | None
    needs: tuple[str, ...]
    needs_not: tuple[str, ...]
    crisis: bool


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    style: str
    turns: tuple[Turn, ...]
    gold: Gold
    windows: tuple[str, ...] = ()
    not_windows: tuple[str, ...] = ()
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    tier: str = "own"  # "own": written by the project; "real": derived from real consultations
    split: str = ""  # real tier: "dev" or "heldout"
    crisis_turn: int | None = None  # real tier: the first turn that shows the crisis (1-based)


def _gold(raw: dict[str, Any], where: str) -> Gold:
    exp = raw.get("expect") or {}
    relation = exp.get("relation")
    if relation not in (*RELATIONS, None):
        raise ValueError(f"{where}: relation {relation!r}")
    age = exp.get("age")
    if age is not None:
        if isinstance(age, int):
            age = [age, age]
        if len(age) != 2 or not all(isinstance(a, int) for a in age) or age[0] > age[1]:
            raise ValueError(f"{where}: age {age!r}")
        age = (int(age[0]), int(age[1]))
    return Gold(
        relation=relation,
        age=age,
        needs=tuple(exp.get("needs") or ()),
        needs_not=tuple(exp.get("needs_not") or ()),
        crisis=bool(exp.get("crisis", False)),
    )


def _turns(raw: dict[str, Any], kind: str, where: str) -> tuple[Turn, ...]:
    if kind == "first_messages":
        return (Turn(str(raw["text"])),)
    turns = []
    for t in raw["turns"]:
        if isinstance(t, str):
            t = {"user": t}
        exp = tuple(t.get("expect") or ())
        exp_not = tuple(t.get("expect_not") or ())
        unknown = set(exp) | set(exp_not)
        unknown -= SIGNALS
        if unknown:
            raise ValueError(f"{where}: unknown signals {sorted(unknown)}")
        turns.append(Turn(str(t["user"]), exp, exp_not))
    if not turns:
        raise ValueError(f"{where}: no turns")
    return tuple(turns)


def case_files(root: Path = HERE) -> Iterator[tuple[str, Path]]:
    for kind in KINDS:
        for path in sorted((root / kind).glob("*.yml")):
            yield kind, path


def load_cases(root: Path = HERE) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    for kind, path in case_files(root):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            where = f"{path.name}:{raw.get('id')}"
            cid = str(raw["id"])
            if cid in seen:
                raise ValueError(f"duplicate case id {cid}")
            seen.add(cid)
            cases.append(
                Case(
                    id=cid,
                    kind=kind,
                    style=str(raw.get("style", "")),
                    turns=_turns(raw, kind, where),
                    gold=_gold(raw, where),
                    windows=tuple(raw.get("windows") or ()),
                    not_windows=tuple(raw.get("not_windows") or ()),
                    source=path.name,
                    raw=raw,
                )
            )
    return cases


def case_texts(cases: list[Case]) -> Iterator[tuple[str, str]]:
    for c in cases:
        for t in c.turns:
            yield c.id, t.user


# --- the real-derived tier (tests/conversations/real/README.md) ------------------------------------
REAL = HERE / "real"
# What a labelled request asks of the bot's reply on that turn.
_ASKS = {
    "person": ((("person",)), ("fallback",)),
    "where": (("guided",), ("fallback",)),
    "decline": ((), ("fallback", "booked")),
    "accept": ((), ("fallback",)),
    "stop": (("stopped",), ()),
    "erase": (("erase",), ()),
}


def load_real_cases(root: Path = REAL, splits: tuple[str, ...] = ("dev", "heldout")) -> list[Case]:
    """The real-derived cases with their adjudicated blind labels (labels/final.yml)."""
    labels_path = root / "labels" / "final.yml"
    labels = yaml.safe_load(labels_path.read_text(encoding="utf-8")) if labels_path.exists() else {}
    cases: list[Case] = []
    for split in splits:
        for path in sorted((root / split).glob("*.yml")):
            for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
                cid = str(raw["id"])
                label = labels.get(cid)
                if label is None:
                    continue
                where = f"real/{split}/{path.name}:{cid}"
                texts = (
                    [raw["text"]] if "text" in raw else [t if isinstance(t, str) else t["user"] for t in raw["turns"]]
                )
                asks = {int(k): v for k, v in (label.get("asks") or {}).items()}
                turns = tuple(Turn(str(t), *_ASKS.get(asks.get(i, ""), ((), ()))) for i, t in enumerate(texts, 1))
                relation = label.get("relation")
                gold = _gold({"expect": {**label, "relation": None if relation == "unknown" else relation}}, where)
                crisis_turn = int(label.get("crisis_turn") or 1) if gold.crisis else None
                kind = "first_messages" if "text" in raw else "multi_turn"
                windows, not_windows = _real_windows(gold)
                cases.append(
                    Case(
                        id=cid,
                        kind=kind,
                        style=str(raw.get("style", "")),
                        turns=turns,
                        gold=gold,
                        windows=windows,
                        not_windows=not_windows,
                        source=str(raw.get("source", "")),
                        raw=raw,
                        tier="real",
                        split=split,
                        crisis_turn=crisis_turn,
                    )
                )
    return cases


def _real_windows(gold: Gold) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The seed's window rule (tests/conversations/label.py), computed rather than stored."""
    if gold.crisis:
        return (), ()
    from bot.domain.directory import get_directory
    from tests.conversations.label import seed_windows

    must, never = seed_windows(gold, get_directory())
    return tuple(must), tuple(never)
