"""Context novelty: how new the recent pattern of a series is, against everything it has shown. Pure.

The series is quantised on grids learned from its own first values (no range known in advance), and
the last few quantised states form a *context*. A context never seen before is news; a series whose
contexts are all familiar scores 0 however large its values are, and a series that is novel all the
time (pure noise) is damped by its own novelty rate. This is the idea of CAD OSE (contextual anomaly
detection), written anew for a streaming, persisted detector:

- a `Grid` splits the learned range into `bins` and extends it as values leave it (bin numbers outside
  the range; when the occupied span passes 2 × bins, the width doubles and every stored context is
  remapped exactly); it remembers at most `capacity` contexts, least recently seen first out;
- order k of a context "speaks" once its prefix (the k − 1 states before) has been seen at least twice,
  and is "surprised" when the whole context is new; novelty = surprised / speaking;
- a `Bank` averages `grids` grids offset from each other by a fraction of a bin (one grid's alignment
  is brittle) and scales novelty by 1 − its own novelty rate (an EMA);
- `ContextModel` runs a fast bank on every window and a slow one on means of `block` windows, and scores
  the larger of the two.

State is JSON: plain numbers, lists and strings."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ContextConfig:
    bins: int = 8  # over the learned range
    order: int = 4  # longest context, in windows
    grids: int = 4  # offset grids per bank
    learn_windows: int = 150  # values a bank sees before it learns the range
    capacity: int = 1000  # contexts kept per grid
    rate_windows: float = 200.0  # time constant of the novelty-rate EMA
    initial_rate: float = 0.5  # a new series is assumed novel half the time
    block: int = 24  # windows per value of the slow bank


def _key(states: tuple[int, ...] | list[int]) -> str:
    return ",".join(map(str, states))


class Grid:
    """One quantisation of the series and the contexts seen on it."""

    def __init__(self, config: ContextConfig, offset: float, state: dict[str, Any] | None = None) -> None:
        self._c = config
        self.offset = offset
        s = state or {}
        self.lo: float = s.get("lo", 0.0)
        self.width: float = s.get("width", 0.0)
        self.bmin: int = s.get("bmin", 0)
        self.bmax: int = s.get("bmax", 0)
        self.recent: list[int] = list(s.get("recent", ()))
        self.seen: OrderedDict[str, int] = OrderedDict(s.get("seen", ()))

    def state(self) -> dict[str, Any]:
        return {
            "lo": self.lo,
            "width": self.width,
            "bmin": self.bmin,
            "bmax": self.bmax,
            "recent": self.recent,
            "seen": list(self.seen.items()),
        }

    def start(self, lo: float, hi: float) -> None:
        floor = 1e-3 * max(abs(lo), abs(hi)) or 1e-6
        self.width = max((hi - lo) / self._c.bins, floor)
        self.lo = lo - self.offset * self.width

    def _coarsen(self) -> None:
        self.width *= 2
        merged: OrderedDict[str, int] = OrderedDict()
        for key, count in self.seen.items():
            coarse = _key([int(b) // 2 for b in key.split(",")])
            merged[coarse] = merged.get(coarse, 0) + count
        self.seen = merged
        self.recent = [b // 2 for b in self.recent]
        self.bmin //= 2
        self.bmax //= 2

    def _see(self, key: str) -> int:
        """How often this context was seen before now (and it is seen once more)."""
        count = self.seen.get(key)
        if count is None:
            self.seen[key] = 1
            if len(self.seen) > self._c.capacity:
                self.seen.popitem(last=False)
            return 0
        self.seen[key] = count + 1
        self.seen.move_to_end(key)
        return count

    def novelty(self, value: float) -> float:
        b = math.floor((value - self.lo) / self.width)
        self.bmin, self.bmax = min(self.bmin, b), max(self.bmax, b)
        while self.bmax - self.bmin >= 2 * self._c.bins:
            self._coarsen()
            b = math.floor((value - self.lo) / self.width)
        self.recent.append(b)
        del self.recent[: -self._c.order]
        h, n = self.recent, len(self.recent)
        speaking, surprised = 1, int(self._see(_key((b,))) == 0)
        for k in range(2, n + 1):
            if self.seen.get(_key(h[n - k : n - 1]), 0) <= 1:
                break  # its prefix is not yet familiar: this order has nothing to say
            speaking += 1
            surprised += int(self._see(_key(h[n - k :])) == 0)
        return surprised / speaking


class Bank:
    """Offset grids on one stream of values, novelty scaled by the stream's own novelty rate."""

    def __init__(self, config: ContextConfig, rate_windows: float, state: dict[str, Any] | None = None) -> None:
        self._c = config
        self._tau = rate_windows
        s = state or {}
        grid_states = s.get("grids") or [None] * config.grids
        self.grids = [Grid(config, j / config.grids, g) for j, g in enumerate(grid_states)]
        self.learning: list[float] = list(s.get("learning", ()))
        self.ready: bool = s.get("ready", False)
        self.rate: float = s.get("rate", config.initial_rate)

    def state(self) -> dict[str, Any]:
        return {
            "grids": [g.state() for g in self.grids],
            "learning": self.learning,
            "ready": self.ready,
            "rate": self.rate,
        }

    def score(self, value: float) -> float | None:
        """Novelty in [0, 1] of this value in its context, or None while the bank is still learning."""
        if not self.ready:
            self.learning.append(value)
            if len(self.learning) < self._c.learn_windows:
                return None
            lo, hi = min(self.learning), max(self.learning)
            for grid in self.grids:
                grid.start(lo, hi)
                for v in self.learning:
                    grid.novelty(v)
            self.learning, self.ready = [], True
            return None
        novelty = sum(g.novelty(value) for g in self.grids) / len(self.grids)
        rate = self.rate
        self.rate += (novelty - rate) / self._tau
        return novelty * (1.0 - rate)


class ContextModel:
    """The novelty score of each window of one series: the larger of a fast and a slow bank's."""

    def __init__(self, config: ContextConfig, state: dict[str, Any] | None = None) -> None:
        self._c = config
        s = state or {}
        self.fast = Bank(config, config.rate_windows, s.get("fast"))
        self.slow = Bank(config, max(config.rate_windows / config.block, 2.0), s.get("slow"))
        self.block_sum: float = s.get("block_sum", 0.0)
        self.block_n: int = s.get("block_n", 0)

    def state(self) -> dict[str, Any]:
        return {
            "fast": self.fast.state(),
            "slow": self.slow.state(),
            "block_sum": self.block_sum,
            "block_n": self.block_n,
        }

    @property
    def ready(self) -> bool:
        return self.fast.ready

    def score(self, value: float) -> float:
        slow = 0.0
        self.block_sum += value
        self.block_n += 1
        if self.block_n == self._c.block:
            s = self.slow.score(self.block_sum / self._c.block)
            self.block_sum, self.block_n = 0.0, 0
            slow = s or 0.0
        fast = self.fast.score(value)
        return 0.0 if fast is None else max(fast, slow)
