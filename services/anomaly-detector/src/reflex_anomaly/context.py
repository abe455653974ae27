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
- `ContextModel` runs a fast bank on every window, bounded by a day-aware bank (contexts tagged by the
  part of the day), and slow banks on means of `blocks` windows, and scores the largest.

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
    blocks: tuple[int, ...] = (24, 96)  # windows per value of each slow bank
    day_part_hours: int = 6  # the day-aware bank's contexts are tagged by the part of the day (UTC)


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
            tag, bar, states = key.rpartition("|")
            coarse = tag + bar + _key([int(b) // 2 for b in states.split(",")])
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

    def novelty(self, value: float, tag: str = "") -> float:
        """Novelty of this value in its context; a `tag` ("3|") keeps these contexts apart from others."""
        b = math.floor((value - self.lo) / self.width)
        self.bmin, self.bmax = min(self.bmin, b), max(self.bmax, b)
        while self.bmax - self.bmin >= 2 * self._c.bins:
            self._coarsen()
            b = math.floor((value - self.lo) / self.width)
        self.recent.append(b)
        del self.recent[: -self._c.order]
        h, n = self.recent, len(self.recent)
        speaking, surprised = 1, int(self._see(tag + _key((b,))) == 0)
        for k in range(2, n + 1):
            if self.seen.get(tag + _key(h[n - k : n - 1]), 0) <= 1:
                break  # its prefix is not yet familiar: this order has nothing to say
            speaking += 1
            surprised += int(self._see(tag + _key(h[n - k :])) == 0)
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

    def start(self, lo: float, hi: float) -> None:
        """Take the range [lo, hi] (learned here or given by another bank) and replay what was kept."""
        for grid in self.grids:
            grid.start(lo, hi)
            for v in self.learning:
                grid.novelty(v)
        self.learning, self.ready = [], True

    def score(self, value: float, tag: str = "") -> float | None:
        """Novelty in [0, 1] of this value in its context, or None while the bank is still learning."""
        if not self.ready:
            self.learning.append(value)
            if len(self.learning) >= self._c.learn_windows:
                self.start(min(self.learning), max(self.learning))
            return None
        novelty = sum(g.novelty(value, tag) for g in self.grids) / len(self.grids)
        rate = self.rate
        self.rate += (novelty - rate) / self._tau
        return novelty * (1.0 - rate)


class ContextModel:
    """The novelty score of each window of one series.

    A fast bank sees every window; a day-aware bank sees them too, its contexts tagged by the part of
    the day, and the fast novelty counts only as far as the day-aware one agrees (a pattern new to the
    series but usual at this time of day is not news). Slow banks see means of `blocks` windows, on the
    range the fast bank learned (so they speak after its first windows, not after 150 blocks). The
    score is the largest of the fast (so bounded) and the slow banks'."""

    def __init__(self, config: ContextConfig, state: dict[str, Any] | None = None) -> None:
        self._c = config
        s = state or {}
        self.fast = Bank(config, config.rate_windows, s.get("fast"))
        self.daily = Bank(config, config.rate_windows, s.get("daily"))
        slow_states = s.get("slow") or [None] * len(config.blocks)
        self.slow = [
            Bank(config, max(config.rate_windows / block, 2.0), st)
            for block, st in zip(config.blocks, slow_states, strict=True)
        ]
        self.block_sum: list[float] = list(s.get("block_sum", [0.0] * len(config.blocks)))
        self.block_n: list[int] = list(s.get("block_n", [0] * len(config.blocks)))

    def state(self) -> dict[str, Any]:
        return {
            "fast": self.fast.state(),
            "daily": self.daily.state(),
            "slow": [b.state() for b in self.slow],
            "block_sum": self.block_sum,
            "block_n": self.block_n,
        }

    @property
    def ready(self) -> bool:
        return self.fast.ready

    def score(self, value: float, hour: int = 0) -> float:
        """`hour`: the window's hour of the day (UTC)."""
        slow = 0.0
        for i, block in enumerate(self._c.blocks):
            self.block_sum[i] += value
            self.block_n[i] += 1
            if self.block_n[i] == block:
                s = self.slow[i].score(self.block_sum[i] / block)
                self.block_sum[i], self.block_n[i] = 0.0, 0
                slow = max(slow, s or 0.0)
        if not self.fast.ready and len(self.fast.learning) == self._c.learn_windows - 1:
            seen = [*self.fast.learning, value]  # the fast bank learns its range now: so do the others
            for bank in (self.daily, *self.slow):
                if not bank.ready:
                    bank.start(min(seen), max(seen))
        daily = self.daily.score(value, f"{hour // self._c.day_part_hours}|") if self.daily.ready else None
        fast = self.fast.score(value)
        if fast is None:
            return 0.0
        if daily is not None:
            fast = min(fast, daily)
        return max(fast, slow)
