"""How many examples each property saw (printed by the fuzz runner and the pytest summary)."""

from __future__ import annotations

import sys
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypothesis import settings

COUNTS: Counter = Counter()


def tick() -> None:
    """Count one example for the calling test function."""
    COUNTS[sys._getframe(1).f_code.co_name] += 1


def budget(examples: int = 100) -> "settings":
    """Examples for one property in the everyday run (`make test`); under the "fuzz" profile
    (`make fuzz`) the profile decides."""
    import os

    from hypothesis import settings

    if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz":
        return settings()
    return settings(max_examples=examples)
