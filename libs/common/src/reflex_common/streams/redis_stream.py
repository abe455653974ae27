"""The Redis Streams adapter of StreamPort. The only module of the runtime that imports redis."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.error_classes import is_existing_group, is_missing_group, is_missing_key, translated
from reflex_common.errors import GroupMissing
from reflex_common.redis_client import redis_from_url
from reflex_common.streams.ports import ClaimResult, DeadLetter, Entry, GroupBacklog, Outgoing, StreamStats

P = ParamSpec("P")
R = TypeVar("R")


def transient_on_outage(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Translate Redis errors into the vocabulary (see `error_classes`): outages and refusals
    (OOM, READONLY, MASTERDOWN, LOADING, …) into TransientError, NOGROUP into GroupMissing; and a
    cancellation that redis-py's socket write dropped (see `cancellation`) raised again."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            result = await fn(*args, **kwargs)
            raise_dropped_cancellation()
            return result
        except (RedisError, OSError) as exc:
            if is_missing_group(exc):
                raise GroupMissing(f"{fn.__name__}: {exc}") from exc
            if (error := translated(exc, f"redis refused {fn.__name__}")) is not None:
                raise error from exc
            raise

    return wrapper


def _as_sent(response: Any, **options: Any) -> Any:
    return response


# At most this many field names are kept decoded (a stream of odd entries cannot grow the cache).
_MAX_NAMES = 256


def entry_fields(fields: Mapping[str, bytes]) -> Any:
    """Fields as redis-py's xadd takes them (its annotations are narrower than what it accepts)."""
    return dict(fields)


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


# Reset the idle time of the ids still owned by ARGV[2] (XCLAIM ... JUSTID counts no delivery), and
# only those: an entry another consumer claimed meanwhile stays with it, instead of being pulled
# back and handled twice.
_TOUCH_MINE = """
local group, me = ARGV[1], ARGV[2]
local claim = {'XCLAIM', KEYS[1], group, me, 0}
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)
  if pending[1] and pending[1][2] == me then claim[#claim + 1] = ARGV[i] end
end
if #claim == 5 then return 0 end
claim[#claim + 1] = 'JUSTID'
return #redis.call(unpack(claim))
"""


# Read one pending entry ARGV[3] if ARGV[2] still owns it, counting a delivery (XCLAIM). Replies
# {0} (not ours: acked, or claimed by another consumer), {1, count} (trimmed from the stream while
# pending: XCLAIM dropped its pending record) or {2, count, fields}.
_CLAIM_MINE = """
local group, me, id = ARGV[1], ARGV[2], ARGV[3]
local pending = redis.call('XPENDING', KEYS[1], group, id, id, 1)
if not pending[1] or pending[1][2] ~= me then return {0} end
local got = redis.call('XCLAIM', KEYS[1], group, me, 0, id)
if not got[1] then return {1, pending[1][4]} end
return {2, pending[1][4] + 1, got[1][2]}
"""

# XAUTOCLAIM … JUSTID, and the delivery counts of the candidates read first (XPENDING over the same
# range, without the idle filter: XAUTOCLAIM drops the pending record of a trimmed entry whatever its
# idle time), so that its tombstone keeps the count.
_CLAIM_IDS = """
local counts = {}
for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[4], '+', ARGV[5])) do
  counts[p[1]] = p[4]
end
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5], 'JUSTID')
local deleted_counts = {}
for i, id in ipairs(reply[3] or {}) do deleted_counts[i] = counts[id] or 0 end
reply[4] = deleted_counts
return reply
"""

# Forward and ack in one command, atomic as a script is: XADD (MAXLEN ~) each outgoing entry, then
# XACK. One reply for the batch, where MULTI/EXEC answers QUEUED once per command, each parsed on
# the client. KEYS[1] is the stream read, KEYS[2..] the streams written; ARGV: the group, the number
# of ack ids, the ids, then per entry its stream's KEYS index, MAXLEN, field count and the fields.
# (Redis checks the memory limit at a script's first write, so a full Redis refuses all or nothing.)
_COMMIT = """
local group, nack = ARGV[1], tonumber(ARGV[2])
local i = 3 + nack
while i <= #ARGV do
  local n = tonumber(ARGV[i + 2])
  redis.call('XADD', KEYS[tonumber(ARGV[i])], 'MAXLEN', '~', ARGV[i + 1], '*', unpack(ARGV, i + 3, i + 2 + 2 * n))
  i = i + 3 + 2 * n
end
for first = 3, 2 + nack, 1000 do
  redis.call('XACK', KEYS[1], group, unpack(ARGV, first, math.min(first + 999, 2 + nack)))
end
return 0
"""

_KEEP_MAX = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) return tonumber(ARGV[1]) end
return current
"""

# In one script, so that no consumer can read between the check (0 pending) and the removal.
_REMOVE_IDLE = """
local removed = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['name'] ~= ARGV[2] and info['pending'] == 0 and info['idle'] >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
"""


class RedisStreams:
    """StreamPort on Redis. `blocking` serves only XREADGROUP BLOCK: its socket timeout must exceed
    block_ms so that a blocked read is never cut off mid-command."""

    def __init__(self, commands: Redis, blocking: Redis) -> None:
        self._r = commands
        self._blocking = blocking
        self._touch_mine = commands.register_script(_TOUCH_MINE)
        self._claim_mine = commands.register_script(_CLAIM_MINE)
        self._claim_ids = commands.register_script(_CLAIM_IDS)
        self._keep_max = commands.register_script(_KEEP_MAX)
        self._remove_idle = commands.register_script(_REMOVE_IDLE)
        self._commit = commands.register_script(_COMMIT)
        # The blocking client serves XREADGROUP alone: its reply is turned into Entries here, in one
        # pass, instead of into redis-py's dicts first.
        blocking.set_response_callback("XREADGROUP", _as_sent)
        # Field names decoded once each (a stream's entries share a handful of names).
        self._names: dict[bytes, str] = {}

    @transient_on_outage
    async def ensure_group(self, stream: str, group: str) -> None:
        # Look before creating: XGROUP CREATE is a write, refused by a full or read-only Redis even
        # when the group exists, and a worker (re)started then must still get to its loop.
        if any(g.group == group for g in await self.backlog(stream)):
            return
        try:
            await self._r.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not is_existing_group(exc):
                raise

    @transient_on_outage
    async def own_pending(self, stream: str, group: str, consumer: str, after_id: str, count: int) -> list[str]:
        rows: Any = await self._r.xpending_range(stream, group, f"({after_id}", "+", count, consumer)
        return [_id(row["message_id"]) for row in rows]

    @transient_on_outage
    async def claim(self, stream: str, group: str, consumer: str, entry_id: str) -> Entry | None:
        reply: Any = await self._claim_mine(keys=[stream], args=[group, consumer, entry_id])
        if int(reply[0]) == 0:
            return None
        if int(reply[0]) == 1:
            return Entry(id=entry_id, fields={}, deliveries=int(reply[1]))
        flat = reply[2]
        fields = {_id(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}
        return Entry(id=entry_id, fields=fields, deliveries=int(reply[1]))

    @transient_on_outage
    async def read_new(self, stream: str, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        reply: Any = await self._blocking.xreadgroup(group, consumer, {stream: ">"}, count=count, block=block_ms)
        if not reply:
            return []
        # RESP3 answers {stream: entries}, RESP2 [[stream, entries]]; one stream was read.
        entries = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
        return [Entry(id=_id(i), fields=self._flat_fields(flat), deliveries=1) for i, flat in entries]

    def _flat_fields(self, flat: list[bytes] | None) -> dict[str, bytes]:
        if not flat:
            return {}
        names, values = flat[::2], flat[1::2]
        known = self._names
        if not all(name in known for name in names) and len(known) < _MAX_NAMES:
            known.update((name, name.decode()) for name in names)
        return {known.get(name) or name.decode(): value for name, value in zip(names, values, strict=True)}

    @transient_on_outage
    async def autoclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, cursor: str, count: int
    ) -> ClaimResult:
        # As a script: redis-py's reply parser keeps only the ids of XAUTOCLAIM … JUSTID, and the
        # cursor and the deleted ids are what the loop needs.
        reply: Any = await self._claim_ids(keys=[stream], args=[group, consumer, min_idle_ms, cursor, count])
        deleted = [_id(i) for i in reply[2]] if len(reply) > 2 else []
        counts = [int(n) for n in reply[3]] if len(reply) > 3 else [0] * len(deleted)
        return ClaimResult(
            next_cursor=_id(reply[0]),
            ids=[_id(i) for i in reply[1]],
            deleted_ids=deleted,
            deleted_deliveries=dict(zip(deleted, counts, strict=True)),
        )

    @transient_on_outage
    async def commit(self, stream: str, group: str, ack_ids: Sequence[str], outgoing: Sequence[Outgoing]) -> None:
        if not ack_ids and not outgoing:
            return
        keys = [stream]
        args: list[bytes | str | int] = [group, len(ack_ids), *ack_ids]
        slots: dict[str, int] = {}
        for out in outgoing:
            if (slot := slots.get(out.stream)) is None:
                keys.append(out.stream)
                slot = slots[out.stream] = len(keys)
            args += (slot, out.maxlen, len(out.fields))
            for name, value in out.fields.items():
                args += (name, value)
        await self._commit(keys=keys, args=args)

    @transient_on_outage
    async def publish(self, outgoing: Sequence[Outgoing]) -> None:
        if not outgoing:
            return
        async with self._r.pipeline(transaction=True) as pipe:
            for out in outgoing:
                pipe.xadd(out.stream, entry_fields(out.fields), maxlen=out.maxlen, approximate=True)
            await pipe.execute()

    @transient_on_outage
    async def dead_letter(
        self, stream: str, group: str, dlq_stream: str, letters: Sequence[DeadLetter], maxlen: int
    ) -> int:
        if not letters:
            return 0
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.xlen(dlq_stream)
            for letter in letters:
                pipe.xadd(dlq_stream, entry_fields(letter.to_fields(stream, group)), maxlen=maxlen, approximate=True)
            pipe.xlen(dlq_stream)
            pipe.xack(stream, group, *[letter.entry.id for letter in letters])
            replies: Any = await pipe.execute()
        before, after = int(replies[0]), int(replies[-2])
        return max(0, before + len(letters) - after)

    @transient_on_outage
    async def touch(self, stream: str, group: str, consumer: str, ids: Sequence[str]) -> None:
        if ids:
            await self._touch_mine(keys=[stream], args=[group, consumer, *ids])

    @transient_on_outage
    async def count_trimmed(self, stream: str, counter_key: str, n: int) -> None:
        await self._r.incrby(counter_key, n)

    @transient_on_outage
    async def remove_idle_consumers(self, stream: str, group: str, keep: str, idle_ms: int) -> list[str]:
        removed: Any = await self._remove_idle(keys=[stream], args=[group, keep, idle_ms])
        return [_id(name) for name in removed]

    @transient_on_outage
    async def keep_max(self, key: str, value: int) -> int:
        return int(await self._keep_max(keys=[key], args=[value]))

    @transient_on_outage
    async def breaker_reason(self, key: str) -> str | None:
        value: Any = await self._r.get(key)
        return _id(value) if value is not None else None

    @transient_on_outage
    async def open_breaker(self, key: str, reason: str, cooldown_s: float) -> None:
        await self._r.set(key, reason, px=max(1, int(cooldown_s * 1000)), nx=True)

    @transient_on_outage
    async def stats(self, stream: str, group: str, dlq_stream: str, trimmed_key: str) -> StreamStats:
        groups = await self.backlog(stream)
        mine = next((g for g in groups if g.group == group), None)
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.xlen(dlq_stream)
            pipe.get(trimmed_key)
            pipe.xlen(stream)
            dlq_length, trimmed, length = await pipe.execute()
        oldest: int | None = None
        if mine is not None and mine.pending:
            summary: Any = await self._r.xpending(stream, group)
            if summary.get("min"):
                oldest = int(_id(summary["min"]).partition("-")[0])
        return StreamStats(
            lag=mine.lag if mine else 0,
            pending=mine.pending if mine else 0,
            oldest_pending_ms=oldest,
            dlq_length=int(dlq_length),
            trimmed=int(trimmed or 0),
            length=int(length),
            trimmed_unread=await self._trimmed_unread(stream, group) if mine else None,
        )

    async def _trimmed_unread(self, stream: str, group: str) -> int | None:
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.xinfo_stream(stream)
            pipe.xinfo_groups(stream)
            info, groups = await pipe.execute()
        mine = next((g for g in groups if _id(g["name"]) == group), None)
        if mine is None:
            return None
        added, read = info.get("entries-added"), mine.get("entries-read")
        last_read, length = _key(_id(mine["last-delivered-id"])), int(info["length"])
        if read is None and last_read == (0, 0):
            read = 0  # Redis reports nil until the group's first read
        if added is None or read is None:
            return None
        first = info.get("first-entry")
        if not first or last_read >= _key(_id(info["last-generated-id"])):
            unread = 0
        elif last_read < _key(_id(first[0])):
            unread = length  # the whole stream lies past the group's last read
        else:
            return None
        return max(0, int(added) - int(read) - unread)

    @transient_on_outage
    async def backlog(self, stream: str) -> list[GroupBacklog]:
        try:
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.xinfo_groups(stream)
                pipe.xlen(stream)
                groups, length = await pipe.execute()
        except ResponseError as exc:
            if is_missing_key(exc):
                return []
            raise
        result = []
        for g in groups:
            lag = g.get("lag")
            result.append(
                GroupBacklog(
                    group=_id(g["name"]),
                    # Redis reports a NULL lag when it cannot tell (after XDEL / trims): assume the worst.
                    lag=int(lag) if lag is not None else int(length),
                    pending=int(g["pending"]),
                )
            )
        return result


@contextlib.asynccontextmanager
async def open_redis_streams(
    redis_url: str, block_ms: int, *, command_timeout_s: float = 5.0
) -> AsyncIterator[tuple[RedisStreams, Redis]]:
    """A RedisStreams with its two clients: one for commands, one single connection for blocking
    reads whose socket timeout exceeds BLOCK. Yields the port and the command client."""
    commands = redis_from_url(redis_url, socket_timeout=command_timeout_s, socket_connect_timeout=command_timeout_s)
    blocking = redis_from_url(
        redis_url,
        socket_timeout=block_ms / 1000 + command_timeout_s,
        socket_connect_timeout=command_timeout_s,
        single_connection_client=True,
    )
    try:
        yield RedisStreams(commands, blocking), commands
    finally:
        await blocking.aclose()
        await commands.aclose()
