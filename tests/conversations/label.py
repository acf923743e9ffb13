"""Fill each case's `windows` / `not_windows` from the seed's table (as kept in directory/windows.yml).

The rule is the seed's, written independently of bot/domain/routing.py so that the evaluation can catch
routing mistakes:
  * the city's all-age window (保健福祉課 こころの健康相談・ひきこもり相談, the anchor) is always expected;
  * a window whose age row does not cover the person's age band must not appear; with the age not
    known, no age-restricted window may appear (nothing is offered that may not fit);
  * someone asking for a 居場所 is expected to get the city's 居場所 for their age
    (若者居場所づくり事業 15–39, ちゃんくす 40+);
  * windows for families only are not offered to the person themself.

    python -m tests.conversations.label          # rewrite the case files with the labels
    python -m tests.conversations.label --check  # exit 1 if a file is out of date
"""

from __future__ import annotations

import argparse
import sys

import yaml

from bot.domain.directory import Directory, get_directory
from tests.conversations.cases import Gold, _gold, case_files


def seed_windows(gold: Gold, directory: Directory) -> tuple[list[str], list[str]]:
    must: list[str] = [w.id for w in directory.windows if w.anchor]
    never: list[str] = []
    for w in directory.windows:
        if gold.age is None:
            if not w.age.unrestricted:
                never.append(w.id)
        elif not w.age.overlaps(*gold.age):
            never.append(w.id)
        if w.family_only and gold.relation == "self":
            never.append(w.id)
    if "ibasho" in gold.needs and gold.age is not None:
        must += [
            w.id
            for w in directory.windows
            if w.scope == "city" and "ibasho" in w.needs and not w.anchor and w.id not in never
        ]
    return list(dict.fromkeys(must)), sorted(set(never))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    directory = get_directory()
    stale = []
    for _kind, path in case_files():
        raw_cases = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        changed = False
        for raw in raw_cases:
            gold = _gold(raw, f"{path.name}:{raw.get('id')}")
            if gold.crisis:
                must, never = [], []
            else:
                must, never = seed_windows(gold, directory)
            if raw.get("windows") != must or raw.get("not_windows") != never:
                raw["windows"], raw["not_windows"] = must, never
                changed = True
        if changed:
            stale.append(path)
            if not args.check:
                path.write_text(
                    yaml.safe_dump(raw_cases, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8"
                )
    for path in stale:
        print(("out of date: " if args.check else "labelled: ") + str(path))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
