"""What a booking conversation must never leave in plaintext at rest, and how to look for it.

Shared by the SQLite stack test (tests/privacy/test_tracker_at_rest.py) and the PostgreSQL
cluster test (tests/production/test_two_instances.py).
"""

from __future__ import annotations

import re
from typing import Iterable

PHONE_TYPED = "０９０ー３１４１ー５９２６"
STORY = "ひみつの相談です娘が十年外に出られません"
NICKNAME = "はなこ"  # a name the NLU takes as an answer (「ひまわり」 reads as 「やめる」)
# ASCII forms only count outside a base64url run: a Fernet token may contain any digits.
_PHONE_ASCII = re.compile(rb"(?<![A-Za-z0-9_=-])(?:\+81|0)?90-?3141-?5926(?![0-9])")
# The story as typed and as normalised (十 → 10) share this part.
STORY_CORE = "ひみつの相談です娘が"
_JAPANESE = [s.encode("utf-8") for s in (PHONE_TYPED, STORY_CORE, NICKNAME, "３１４１ー５９２６")]


def plaintext_found(blobs: Iterable[tuple[str, bytes]]) -> list[str]:
    """Where (which file or table) any of it appears."""
    found = []
    for where, blob in blobs:
        if _PHONE_ASCII.search(blob) or any(s in blob for s in _JAPANESE):
            found.append(where)
    return found
