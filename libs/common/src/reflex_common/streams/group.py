"""A StreamPort bound once to what one consumer reads: its (stream, group, consumer), its DLQ and its
keys, so that the loop names only what changes from call to call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reflex_common.streams.ports import ClaimResult, DeadLetter, Entry, GroupBacklog, Outgoing, StreamPort


@dataclass(frozen=True, slots=True)
class GroupStream:
    port: StreamPort
    stream: str
    group: str
    consumer: str
    dlq_stream: str
    dlq_maxlen: int
    trimmed_counter_key: str
    breaker_key: str

    async def join(self) -> None:
        await self.port.ensure_group(self.stream, self.group)

    async def read_new(self, count: int, block_ms: int) -> list[Entry]:
        return await self.port.read_new(self.stream, self.group, self.consumer, count, block_ms)

    async def own_pending(self, after_id: str, count: int) -> list[str]:
        return await self.port.own_pending(self.stream, self.group, self.consumer, after_id, count)

    async def claim(self, entry_id: str) -> Entry | None:
        return await self.port.claim(self.stream, self.group, self.consumer, entry_id)

    async def autoclaim(self, min_idle_ms: int, cursor: str, count: int) -> ClaimResult:
        return await self.port.autoclaim(self.stream, self.group, self.consumer, min_idle_ms, cursor, count)

    async def commit(self, ack_ids: Sequence[str], outgoing: Sequence[Outgoing]) -> None:
        await self.port.commit(self.stream, self.group, ack_ids, outgoing)

    async def dead_letter(self, letters: Sequence[DeadLetter]) -> int:
        return await self.port.dead_letter(self.stream, self.group, self.dlq_stream, letters, self.dlq_maxlen)

    async def touch(self, ids: Sequence[str]) -> None:
        await self.port.touch(self.stream, self.group, self.consumer, ids)

    async def count_trimmed(self, n: int) -> None:
        await self.port.count_trimmed(self.stream, self.trimmed_counter_key, n)

    async def backlog(self) -> GroupBacklog | None:
        return next((g for g in await self.port.backlog(self.stream) if g.group == self.group), None)

    async def breaker_reason(self) -> str | None:
        return await self.port.breaker_reason(self.breaker_key) if self.breaker_key else None

    async def open_breaker(self, reason: str, cooldown_s: float) -> None:
        if self.breaker_key:
            await self.port.open_breaker(self.breaker_key, reason, cooldown_s)
