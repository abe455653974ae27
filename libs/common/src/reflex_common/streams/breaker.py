"""The dead-letter circuit breaker: a consumer that dead-letters more than a bound of what it handles
is more likely broken (a bad deploy, a schema change upstream) than fed bad data, so it stops
reading before it empties its stream into the DLQ.

Counted over a sliding window of the last `window_entries` entries settled: more than
`max_ratio × window_entries` of them dead-lettered opens the breaker. It is checked after each
batch, so at most one batch more than the bound goes to the DLQ. The consumer keeps the open state
in Redis (a key whose TTL is the cool-down) so that every consumer of the group stops, and
`reflexctl breaker close` can end it early.
"""

from __future__ import annotations

from collections import deque


class DeadLetterBreaker:
    def __init__(self, window_entries: int, max_ratio: float) -> None:
        self._window: deque[bool] = deque(maxlen=window_entries)  # True: dead-lettered
        self._dead = 0
        self._bound = max_ratio * window_entries
        self.reason: str | None = None

    def record(self, settled: int, dead_lettered: int) -> str | None:
        """Count one batch; returns why the breaker opens when this batch opens it."""
        for dead in [True] * dead_lettered + [False] * max(0, settled - dead_lettered):
            if len(self._window) == self._window.maxlen and self._window[0]:
                self._dead -= 1
            self._window.append(dead)
            self._dead += dead
        if self.reason is None and self._dead > self._bound:
            self.reason = (
                f"{self._dead} of the last {len(self._window)} entries were dead-lettered "
                f"(bound: {self._bound:g} of {self._window.maxlen})"
            )
            return self.reason
        return None

    def open(self, reason: str) -> None:
        self.reason = reason

    def close(self) -> None:
        """Closed (cool-down over, or by hand): the window starts empty."""
        self.reason = None
        self._window.clear()
        self._dead = 0
