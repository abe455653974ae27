"""An in-memory StreamPort with Redis Streams' semantics, for fast unit tests of handlers and the loop.

It keeps what the loop relies on: ids in order, a pending entries list per group with owners, idle
times and delivery counts, XAUTOCLAIM's deleted ids for trimmed entries, and MAXLEN trimming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reflex_common.errors import GroupMissing
from reflex_common.streams.ports import ClaimResult, DeadLetter, Entry, GroupBacklog, Outgoing, StreamStats


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Pending:
    consumer: str
    delivered_ms: float
    deliveries: int


@dataclass
class _Group:
    last_delivered: str = "0-0"
    pending: dict[str, _Pending] = field(default_factory=dict)
    entries_read: int = 0
    consumers: dict[str, float] = field(default_factory=dict)  # name → last seen (ms)


@dataclass
class _Stream:
    entries: dict[str, dict[str, bytes]] = field(default_factory=dict)
    last_id: str = "0-0"
    added: int = 0
    groups: dict[str, _Group] = field(default_factory=dict)


class MemoryStreams:
    def __init__(self, clock_ms: Callable[[], float] = lambda: time.time() * 1000) -> None:
        self._clock_ms = clock_ms
        self.streams: dict[str, _Stream] = {}
        self.counters: dict[str, int] = {}
        self.flags: dict[str, tuple[str, float]] = {}  # key → (value, expires at ms)

    def _stream(self, name: str) -> _Stream:
        return self.streams.setdefault(name, _Stream())

    def _group(self, stream: str, group: str) -> _Group:
        """The group, or GroupMissing as Redis's NOGROUP would say."""
        g = self._stream(stream).groups.get(group)
        if g is None:
            raise GroupMissing(f"NOGROUP no group {group!r} on {stream!r}")
        return g

    def destroy_group(self, stream: str, group: str) -> None:
        """XGROUP DESTROY."""
        self._stream(stream).groups.pop(group, None)

    # -- producing ----------------------------------------------------------------------------
    def add(self, stream: str, fields: dict[str, bytes], maxlen: int | None = None) -> str:
        s = self._stream(stream)
        ms = int(self._clock_ms())
        last_ms, last_seq = _key(s.last_id)
        new_id = f"{ms}-0" if ms > last_ms else f"{last_ms}-{last_seq + 1}"
        s.entries[new_id] = dict(fields)
        s.last_id = new_id
        s.added += 1
        if maxlen is not None:
            self.trim(stream, maxlen)
        return new_id

    def trim(self, stream: str, maxlen: int) -> None:
        s = self._stream(stream)
        while len(s.entries) > maxlen:
            del s.entries[next(iter(s.entries))]

    # -- StreamPort ---------------------------------------------------------------------------
    async def ensure_group(self, stream: str, group: str) -> None:
        self._stream(stream).groups.setdefault(group, _Group())

    def _deliver(self, group: _Group, entry_id: str, consumer: str) -> int:
        p = group.pending.get(entry_id)
        if p is None:
            p = group.pending[entry_id] = _Pending(consumer, self._clock_ms(), 0)
        p.consumer, p.delivered_ms, p.deliveries = consumer, self._clock_ms(), p.deliveries + 1
        return p.deliveries

    async def own_pending(self, stream: str, group: str, consumer: str, after_id: str, count: int) -> list[str]:
        g = self._group(stream, group)
        ids = sorted((i for i, p in g.pending.items() if p.consumer == consumer and _key(i) > _key(after_id)), key=_key)
        return ids[:count]

    async def claim(self, stream: str, group: str, consumer: str, entry_id: str) -> Entry | None:
        s = self._stream(stream)
        g = self._group(stream, group)
        p = g.pending.get(entry_id)
        if p is None or p.consumer != consumer:
            return None
        if entry_id not in s.entries:
            del g.pending[entry_id]
            return Entry(entry_id, {}, p.deliveries)
        return Entry(entry_id, dict(s.entries[entry_id]), self._deliver(g, entry_id, consumer))

    async def read_new(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        s = self._stream(stream)
        g = self._group(stream, group)
        fresh = [i for i in s.entries if _key(i) > _key(g.last_delivered)][:count]
        g.consumers[consumer] = self._clock_ms()
        if not fresh:
            await asyncio.sleep(min(block_ms, 10) / 1000)
            return []
        g.last_delivered = fresh[-1]
        g.entries_read += len(fresh)
        return [Entry(i, dict(s.entries[i]), self._deliver(g, i, consumer)) for i in fresh]

    async def autoclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, cursor: str, count: int
    ) -> ClaimResult:
        s = self._stream(stream)
        g = self._group(stream, group)
        now = self._clock_ms()
        ids = sorted((i for i in g.pending if _key(i) >= _key(cursor)), key=_key)
        claimed: list[str] = []
        deleted: list[str] = []
        counts: dict[str, int] = {}
        next_cursor = "0-0"
        for i in ids:
            if len(claimed) + len(deleted) >= count:
                next_cursor = i
                break
            p = g.pending[i]
            if i not in s.entries:  # as Redis: dropped whatever its idle time
                counts[i] = g.pending.pop(i).deliveries
                deleted.append(i)
                continue
            if now - p.delivered_ms < min_idle_ms:
                continue
            p.consumer, p.delivered_ms = consumer, now  # JUSTID: no delivery counted
            claimed.append(i)
        return ClaimResult(next_cursor, claimed, deleted, counts)

    async def commit(self, stream: str, group: str, ack_ids: Sequence[str], outgoing: Sequence[Outgoing]) -> None:
        for out in outgoing:
            self.add(out.stream, dict(out.fields), out.maxlen)
        g = self._group(stream, group)
        for i in ack_ids:
            g.pending.pop(i, None)

    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        for out in outgoing:
            self.add(out.stream, dict(out.fields), out.maxlen)

    async def dead_letter(
        self, stream: str, group: str, dlq_stream: str, letters: Sequence[DeadLetter], maxlen: int
    ) -> int:
        before = len(self._stream(dlq_stream).entries)
        for letter in letters:
            self.add(dlq_stream, letter.to_fields(stream, group), maxlen)
        g = self._group(stream, group)
        for letter in letters:
            g.pending.pop(letter.entry.id, None)
        return max(0, before + len(letters) - len(self._stream(dlq_stream).entries))

    async def touch(self, stream: str, group: str, consumer: str, ids: Sequence[str]) -> None:
        g = self._group(stream, group)
        for i in ids:
            if i in g.pending and g.pending[i].consumer == consumer:
                g.pending[i].delivered_ms = self._clock_ms()

    async def count_trimmed(self, stream: str, counter_key: str, n: int) -> None:
        self.counters[counter_key] = self.counters.get(counter_key, 0) + n

    async def remove_idle_consumers(self, stream: str, group: str, keep: str, idle_ms: int) -> list[str]:
        g = self._group(stream, group)
        now = self._clock_ms()
        busy = {p.consumer for p in g.pending.values()}
        idle = [c for c, seen in g.consumers.items() if c != keep and c not in busy and now - seen >= idle_ms]
        for c in idle:
            del g.consumers[c]
        return idle

    async def keep_max(self, key: str, value: int) -> int:
        self.counters[key] = max(self.counters.get(key, 0), value)
        return self.counters[key]

    async def breaker_reason(self, key: str) -> str | None:
        value, expires_ms = self.flags.get(key, ("", 0.0))
        return value if self._clock_ms() < expires_ms else None

    async def open_breaker(self, key: str, reason: str, cooldown_s: float) -> None:
        if await self.breaker_reason(key) is None:
            self.flags[key] = (reason, self._clock_ms() + cooldown_s * 1000)

    async def stats(self, stream: str, group: str, dlq_stream: str, trimmed_key: str) -> StreamStats:
        backlog = {b.group: b for b in await self.backlog(stream)}
        mine = backlog.get(group)
        pending = self._stream(stream).groups[group].pending if mine else {}
        oldest = min((_key(i) for i in pending), default=None)
        return StreamStats(
            lag=mine.lag if mine else 0,
            pending=mine.pending if mine else 0,
            oldest_pending_ms=oldest[0] if oldest else None,
            dlq_length=len(self._stream(dlq_stream).entries),
            trimmed=self.counters.get(trimmed_key, 0),
            length=len(self._stream(stream).entries),
            trimmed_unread=self._trimmed_unread(stream, group) if mine else None,
        )

    def _trimmed_unread(self, stream: str, group: str) -> int:
        s = self._stream(stream)
        g = self._group(stream, group)
        unread = sum(1 for i in s.entries if _key(i) > _key(g.last_delivered))
        return max(0, s.added - g.entries_read - unread)

    async def backlog(self, stream: str) -> list[GroupBacklog]:
        s = self._stream(stream)
        return [
            GroupBacklog(name, sum(1 for i in s.entries if _key(i) > _key(g.last_delivered)), len(g.pending))
            for name, g in s.groups.items()
        ]
