"""Token-bucket rate limits by key (a sender, a client address), in memory and bounded.

Plain logic with an injectable clock, so the REST channel (and anything else that takes
requests from the public) can say "no" to a script that books tickets in a loop without
slowing down a person who types a few quick messages.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

__all__ = ["Rate", "RateLimiter", "parse_rate"]


@dataclass(frozen=True)
class Rate:
    """``per_minute`` requests a minute on average, up to ``burst`` at once."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate needs per_minute > 0 and burst >= 1")


def parse_rate(raw: str | None, default: Rate) -> Rate:
    """``"20/10"`` → 20 a minute, bursts of 10; ``"20"`` → 20 a minute, bursts of 20;
    empty → ``default``. Anything else is an error (a typo must not turn a limit off)."""
    raw = (raw or "").strip()
    if not raw:
        return default
    per_minute, _, burst = raw.partition("/")
    try:
        return Rate(float(per_minute), int(burst) if burst else max(1, int(float(per_minute))))
    except ValueError as exc:
        raise ValueError(f"not a rate (per-minute[/burst]): {raw!r}") from exc


class RateLimiter:
    """One token bucket per key. ``check`` spends a token if there is one.

    At most ``max_keys`` buckets are kept (least recently used dropped first): a flood of new
    keys costs bounded memory, and a dropped key only starts again with a full bucket.
    """

    def __init__(self, rate: Rate, *, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: "OrderedDict[str, tuple[float, float]]" = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()  # the staff app checks from several threads

    def check(self, key: str) -> float:
        """0.0 if the request may go ahead (a token is spent), else the seconds until it may."""
        with self._lock:
            return self._check(key)

    def allow(self, key: str) -> bool:
        """True if the request may go ahead (and counts it)."""
        return self.check(key) == 0.0

    def _check(self, key: str) -> float:
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(self.rate.burst), now))
        tokens = min(float(self.rate.burst), tokens + (now - at) * self.rate.per_minute / 60.0)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) * 60.0 / self.rate.per_minute
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)
