"""The port between the consumer loop and a stream store, and the values that cross it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry as delivered to this consumer, with Redis's own delivery count."""

    id: str
    fields: Mapping[str, bytes]
    deliveries: int


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An entry to XADD (with approximate MAXLEN) when the batch that produced it is acked."""

    stream: str
    fields: Mapping[str, bytes]
    maxlen: int


# Why an entry was dead-lettered: `invalid` (it can never be handled), `poison` (delivered more than
# max_deliveries times without an ack: it killed or stalled its consumer each time), `failed` (the
# handler failed on it alone max_deliveries times), `trimmed` (deleted from the stream while pending).
DlqReason = Literal["invalid", "poison", "failed", "trimmed"]
DLQ_REASONS: tuple[DlqReason, ...] = ("invalid", "poison", "failed", "trimmed")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    entry: Entry
    reason: DlqReason
    error: str
    # The exception class behind it (QueryCanceled, BatchDeadlineExceeded, InvalidMessage, …).
    error_class: str = ""
    consumer: str = ""

    def to_fields(self, stream: str, group: str) -> dict[str, bytes]:
        """The DLQ entry: the original fields as they were, plus `dlq:*` fields saying what happened."""
        fields: dict[str, bytes] = dict(self.entry.fields)
        fields.update(
            {
                "dlq:reason": self.reason.encode(),
                "dlq:error": self.error.encode()[:2000],
                "dlq:error_class": self.error_class.encode(),
                "dlq:original_id": self.entry.id.encode(),
                "dlq:stream": stream.encode(),
                "dlq:group": group.encode(),
                "dlq:consumer": self.consumer.encode(),
                # Redis's own count; 0 when Redis dropped the pending record before we could read it.
                "dlq:deliveries": str(self.entry.deliveries).encode(),
                "dlq:failed_at_ms": str(int(time.time() * 1000)).encode(),
            }
        )
        return fields


@dataclass(frozen=True, slots=True)
class ClaimResult:
    next_cursor: str
    # Ids now owned by this consumer, their delivery counts unchanged (XAUTOCLAIM … JUSTID): each is
    # read (and counted) only when it is handled, alone (see StreamPort.claim).
    ids: list[str]
    # Pending ids whose entries were trimmed or deleted from the stream before anyone acked them.
    deleted_ids: list[str] = field(default_factory=list)
    # Their delivery counts, read just before Redis dropped their pending records.
    deleted_deliveries: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupBacklog:
    """Entries of one group not yet acked: lag (never delivered) + pending (delivered, not acked)."""

    group: str
    lag: int
    pending: int

    @property
    def total(self) -> int:
        return self.lag + self.pending


@dataclass(frozen=True, slots=True)
class StreamStats:
    """What on-call wants to know about one group of one stream."""

    lag: int
    pending: int
    # Stream id (ms part) of the oldest entry delivered but not acked; None when nothing is pending.
    oldest_pending_ms: int | None
    dlq_length: int
    trimmed: int
    # Entries in the stream now (XLEN). A lag above it counts entries trimmed before the group read them.
    length: int
    # Entries trimmed from the stream before the group read them (entries-added − entries-read −
    # entries still unread); None when the server cannot tell now (Redis < 7, or the group's last
    # read lies inside the stream, where counting the unread rest would cost a scan).
    trimmed_unread: int | None = None


class StreamPort(Protocol):
    async def ensure_group(self, stream: str, group: str) -> None:
        """XGROUP CREATE ... 0 MKSTREAM; an existing group is left as it is."""

    async def own_pending(self, stream: str, group: str, consumer: str, after_id: str, count: int) -> list[str]:
        """Ids of this consumer's pending entries after `after_id` (XPENDING: no delivery counted)."""

    async def claim(self, stream: str, group: str, consumer: str, entry_id: str) -> Entry | None:
        """Read one pending entry this consumer owns, counting a delivery (XCLAIM): the entry with its
        new delivery count; with empty fields (and the count it had) when it was trimmed from the
        stream while pending (its pending record is then gone); None when it is no longer ours."""

    async def read_new(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Entries never delivered to the group (XREADGROUP ... >), waiting up to block_ms for one."""

    async def autoclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, cursor: str, count: int
    ) -> ClaimResult:
        """XAUTOCLAIM … JUSTID: take over the ids of entries idle at least min_idle_ms, counting no
        delivery (the entries are read one at a time by `claim`)."""

    async def commit(self, stream: str, group: str, ack_ids: Sequence[str], outgoing: Sequence[Outgoing]) -> None:
        """In one MULTI: XADD every outgoing entry, then XACK ack_ids."""

    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """XADD the entries in one MULTI (all or none)."""

    async def dead_letter(
        self, stream: str, group: str, dlq_stream: str, letters: Sequence[DeadLetter], maxlen: int
    ) -> int:
        """In one MULTI: XADD each letter to dlq_stream (fields, error, id, delivery count), XACK it.
        Returns how many older letters the DLQ's own MAXLEN trimmed away meanwhile."""

    async def touch(self, stream: str, group: str, consumer: str, ids: Sequence[str]) -> None:
        """Reset the idle time of those entries this consumer still owns, without counting a delivery
        (XCLAIM ... JUSTID), so a slow batch is not mistaken for a dead consumer's; entries another
        consumer has claimed meanwhile are left with it."""

    async def count_trimmed(self, stream: str, counter_key: str, n: int) -> None:
        """Add n to the durable count of pending entries found trimmed away."""

    async def remove_idle_consumers(self, stream: str, group: str, keep: str, idle_ms: int) -> list[str]:
        """Atomically XGROUP DELCONSUMER every consumer but `keep` idle at least idle_ms with 0
        pending; returns their names."""

    async def keep_max(self, key: str, value: int) -> int:
        """Raise the counter at key to value if it is lower; returns the counter."""

    async def breaker_reason(self, key: str) -> str | None:
        """Why the group's dead-letter breaker is open, or None when it is closed."""

    async def open_breaker(self, key: str, reason: str, cooldown_s: float) -> None:
        """Open the group's breaker for cooldown_s (unless it is open already)."""

    async def stats(self, stream: str, group: str, dlq_stream: str, trimmed_key: str) -> StreamStats:
        """Lag, pending count, oldest pending entry, DLQ length and trimmed count, in one round trip."""

    async def backlog(self, stream: str) -> list[GroupBacklog]:
        """Unacked entries per group of the stream (XINFO GROUPS); an unknown lag counts as XLEN."""
