"""A sliding-window rate limit per key (an address, a sender), thread-safe, no I/O."""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable, Deque, Dict


class SlidingWindowLimit:
    """At most `limit` events per key in any `window_s` seconds.

    Memory stays bounded: keys whose events have all expired are dropped, and past `max_keys`
    the oldest key is forgotten (an attacker cycling addresses cannot grow it without bound).
    """

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_s, self.max_keys, self._clock = limit, window_s, max_keys, clock
        self._events: Dict[str, Deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for `key`; False (and not counted) when the limit is reached."""
        now = self._clock()
        with self._lock:
            seen = self._events.pop(key, None) or deque()
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            allowed = len(seen) < self.limit
            if allowed:
                seen.append(now)
            if seen:
                self._events[key] = seen  # re-inserted last: dicts keep insertion order
            if len(self._events) > self.max_keys:
                self._events.pop(next(iter(self._events)))
            return allowed
