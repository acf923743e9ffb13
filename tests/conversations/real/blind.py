"""Print the real-derived cases as a blind labeller sees them: id and text only.

No source, no style, no file name, no split: the labeller reads nothing but what a member of
staff would read on the screen.

    python -m tests.conversations.real.blind            # every case, ordered by id
    python -m tests.conversations.real.blind --ids a,b  # just these
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Iterator

import yaml

HERE = Path(__file__).resolve().parent
SPLITS = ("dev", "heldout")


def raw_cases(splits: tuple[str, ...] = SPLITS) -> Iterator[tuple[str, dict[str, Any]]]:
    """(split, raw case) for every derived case, in file order."""
    for split in splits:
        for path in sorted((HERE / split).glob("*.yml")):
            for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
                yield split, raw


def turns_of(raw: dict[str, Any]) -> list[str]:
    if "text" in raw:
        return [str(raw["text"])]
    return [str(t if isinstance(t, str) else t["user"]) for t in raw["turns"]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", default="", help="comma-separated ids (default: all)")
    args = ap.parse_args(argv)
    wanted = {i for i in args.ids.split(",") if i}
    cases = sorted((raw for _split, raw in raw_cases()), key=lambda r: str(r["id"]))
    for raw in cases:
        if wanted and raw["id"] not in wanted:
            continue
        turns = turns_of(raw)
        print(f"## {raw['id']}")
        if len(turns) == 1 and "text" in raw:
            print(turns[0])
        else:
            for i, t in enumerate(turns, 1):
                print(f"[{i}] {t}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
