"""Crises told by someone else, in the writer's own words: the reviewed lexicon's recall on them.

tests/safety/relayed_crisis_messages.yml holds 140 messages derived from real pages. Unlike the
reviewed suite (crisis_messages.yml, 100 %), this one records what the lexicon reads today and must
not lose: a miss is fixed in bot/resources/crisis_lexicon.yml as a kind, never by editing the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.language.crisis import detect_crisis

HERE = Path(__file__).resolve().parent
MESSAGES = yaml.safe_load((HERE / "relayed_crisis_messages.yml").read_text(encoding="utf-8"))["messages"]
# 131 of 140 on 2026-12-07 (from 97 before the relayed kinds were added to the lexicon); 140 of 140
# once the fourth round was (a note of apology and the writer gone, treasured things all given away, a
# high place as the destination, far away to end it, something burning behind a shut door, the blade in hand).
RECALL_FLOOR = 1.0


def test_the_relayed_crisis_suite_is_there() -> None:
    assert len(MESSAGES) >= 140 and len(set(MESSAGES)) == len(MESSAGES)


def test_relayed_and_dialect_crises_are_read_as_urgent() -> None:
    missed = [m for m in MESSAGES if not ((s := detect_crisis(m)) and s.urgent)]
    recall = 1 - len(missed) / len(MESSAGES)
    assert recall >= RECALL_FLOOR, f"recall {recall:.3f} < {RECALL_FLOOR}; missed: {missed}"
