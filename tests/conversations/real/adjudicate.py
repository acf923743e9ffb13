"""Merge the two blind labellings (labels/a.yml, labels/b.yml) into labels/final.yml.

Where the two labellers agree, their label stands. Where they disagree on relation, age,
crisis, the crisis turn or what a turn asks for, the third labeller's label (labels/c.yml) decides;
`--disagreements` prints those cases blind (id, text, the two labels) for the third labeller.
Needs: only what both labellers saw is required (needs are scored as "at least these").
Ages within 2 years at each end agree (the scorer's own tolerance); the first labeller's band stands.

    python -m tests.conversations.real.adjudicate --disagreements > /tmp/for_c.txt
    python -m tests.conversations.real.adjudicate            # writes labels/final.yml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conversations.real.blind import raw_cases, turns_of

LABELS = Path(__file__).resolve().parent / "labels"
DECIDED = ("relation", "age", "crisis", "crisis_turn", "asks")


def _load(name: str) -> dict[str, dict[str, Any]]:
    """A labeller's labels: labels/a.yml and any later batch of theirs (labels/a_b2.yml …)."""
    stem = name.removesuffix(".yml")
    merged: dict[str, dict[str, Any]] = {}
    for path in [LABELS / name, *sorted(LABELS.glob(f"{stem}_*.yml"))]:
        if path.exists():
            merged.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def _age(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value, value
    return int(value[0]), int(value[1])


def _asks(value: Any) -> dict[int, str]:
    return {int(k): str(v) for k, v in (value or {}).items()}


def differs(field: str, a: dict[str, Any], b: dict[str, Any]) -> bool:
    if field == "age":
        x, y = _age(a.get("age")), _age(b.get("age"))
        if x is None or y is None:
            return x != y
        return abs(x[0] - y[0]) > 2 or abs(x[1] - y[1]) > 2
    if field == "asks":
        return _asks(a.get("asks")) != _asks(b.get("asks"))
    if field == "crisis_turn":
        return bool(a.get("crisis")) and bool(b.get("crisis")) and a.get("crisis_turn") != b.get("crisis_turn")
    return (
        (a.get(field) or None) != (b.get(field) or None)
        if field != "crisis"
        else bool(a.get("crisis")) != bool(b.get("crisis"))
    )


def disagreements(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [f for f in DECIDED if differs(f, a, b)]


def merge(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "relation": a.get("relation"),
        "age": a.get("age"),
        "needs": sorted(set(a.get("needs") or ()) & set(b.get("needs") or ())),
        "crisis": bool(a.get("crisis")),
    }
    if a.get("crisis") and a.get("crisis_turn"):
        out["crisis_turn"] = a["crisis_turn"]
    if a.get("asks"):
        out["asks"] = _asks(a.get("asks"))
    for field in disagreements(a, b):
        if c is None or (field not in c and not (field == "crisis_turn" and "crisis" in c)):
            raise KeyError(field)
        if field == "crisis_turn" or (field == "crisis" and c.get("crisis")):
            if c.get("crisis_turn"):
                out["crisis_turn"] = c["crisis_turn"]
        if field == "asks":
            out["asks"] = _asks(c.get("asks"))
        elif field != "crisis_turn":
            out[field] = c.get(field)
    if not out["crisis"]:
        out.pop("crisis_turn", None)
    if not out.get("asks"):
        out.pop("asks", None)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--disagreements", action="store_true", help="print the cases the third labeller decides")
    args = ap.parse_args(argv)
    a, b, c = _load("a.yml"), _load("b.yml"), _load("c.yml")
    cases = sorted((raw for _s, raw in raw_cases()), key=lambda r: str(r["id"]))
    if args.disagreements:
        for raw in cases:
            cid = raw["id"]
            fields = disagreements(a[cid], b[cid])
            if not fields:
                continue
            print(f"## {cid}   (decide: {', '.join(fields)})")
            for i, t in enumerate(turns_of(raw), 1):
                print(f"[{i}] {t}" if "turns" in raw else t)
            for who, lab in (("A", a[cid]), ("B", b[cid])):
                print(f"  {who}: " + ", ".join(f"{f}={lab.get(f)}" for f in fields))
            print()
        return 0
    final, missing = {}, []
    for raw in cases:
        cid = raw["id"]
        try:
            final[cid] = merge(a[cid], b[cid], c.get(cid))
        except KeyError as exc:
            missing.append(f"{cid}: {exc}")
    if missing:
        print("not decided yet:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    (LABELS / "final.yml").write_text(
        "# Adjudicated blind labels (python -m tests.conversations.real.adjudicate); do not edit by hand.\n"
        + yaml.safe_dump(final, allow_unicode=True, sort_keys=True, width=120),
        encoding="utf-8",
    )
    agree = sum(1 for raw in cases if not disagreements(a[raw["id"]], b[raw["id"]]))
    print(f"labels/final.yml: {len(final)} cases; the two labellers agreed on {agree}, the third decided the rest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
