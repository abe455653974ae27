"""A bounded window of recent numbers with its median, quantiles, mean and spread. Pure.

O(log n) to push (a sorted copy beside the FIFO), O(1) to ask. Its state is the FIFO itself, so it
persists as a plain list and is rebuilt exactly on load."""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable


class SlidingWindow:
    __slots__ = ("_fifo", "_sorted", "_sq", "_sum", "size")

    def __init__(self, size: int, values: Iterable[float] = ()) -> None:
        self.size = size
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []
        self._sum = 0.0
        self._sq = 0.0
        for v in values:
            self.push(v)

    def push(self, value: float) -> None:
        self._fifo.append(value)
        bisect.insort(self._sorted, value)
        self._sum += value
        self._sq += value * value
        if len(self._fifo) > self.size:
            old = self._fifo.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]
            self._sum -= old
            self._sq -= old * old

    def __len__(self) -> int:
        return len(self._fifo)

    def values(self) -> list[float]:
        """Oldest first: the state to persist."""
        return list(self._fifo)

    def last(self, back: int = 0) -> float:
        return self._fifo[-1 - back]

    def median(self) -> float:
        s, n = self._sorted, len(self._sorted)
        return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])

    def quantile(self, q: float) -> float:
        s = self._sorted
        return s[min(len(s) - 1, max(0, int(q * len(s))))]

    def mean(self) -> float:
        return self._sum / len(self._fifo)

    def std(self) -> float:
        n = len(self._fifo)
        mean = self._sum / n
        var = self._sq / n - mean * mean
        return math.sqrt(var) if var > 0 else 0.0
