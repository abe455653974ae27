"""The StreamPort contract: each scenario runs against the Redis adapter and the in-memory one, so the
fake the unit tests lean on cannot drift from what Redis does (as arroyo's backend test mixins do)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from reflex_common.errors import GroupMissing
from reflex_common.streams import DeadLetter, Outgoing
from reflex_common.streams.memory_stream import MemoryStreams
from reflex_common.streams.redis_stream import RedisStreams

G = "g"
Store = RedisStreams | MemoryStreams


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest, port: RedisStreams) -> Store:
    return port if request.param == "redis" else MemoryStreams()


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def publish(store: Store, stream: str, n: int, maxlen: int = 100_000) -> None:
    await store.publish([Outgoing(stream, {"n": str(i).encode()}, maxlen) for i in range(n)])


async def pending_ids(store: Store, stream: str, consumer: str) -> list[str]:
    return await store.own_pending(stream, G, consumer, "0-0", 1000)


async def test_new_entries_are_delivered_once_to_the_group(store: Store, key_prefix: str) -> None:
    s = f"{key_prefix}:s"
    await store.ensure_group(s, G)
    await store.ensure_group(s, G)  # an existing group is left as it is
    await publish(store, s, 3)
    first = await store.read_new(s, G, "c1", 10, 10)
    assert [e.deliveries for e in first] == [1, 1, 1]
    assert [e.fields["n"] for e in first] == [b"0", b"1", b"2"]
    assert await store.read_new(s, G, "c2", 10, 10) == []


async def test_pending_ids_count_no_delivery_until_claimed_one_by_one(store: Store, key_prefix: str) -> None:
    s = f"{key_prefix}:s"
    await store.ensure_group(s, G)
    await publish(store, s, 3)
    read = await store.read_new(s, G, "c1", 10, 10)
    ids = await pending_ids(store, s, "c1")
    assert ids == [e.id for e in read]
    assert await pending_ids(store, s, "c1") == ids  # listing twice counts nothing
    claimed = await store.claim(s, G, "c1", ids[1])
    assert claimed is not None and claimed.deliveries == 2 and claimed.fields["n"] == b"1"
    assert await store.claim(s, G, "c2", ids[0]) is None  # not c2's
    await store.commit(s, G, [ids[0]], [])
    assert await store.claim(s, G, "c1", ids[0]) is None  # acked: nobody's


async def test_autoclaim_moves_idle_ids_without_counting_and_reports_trimmed_ones(
    store: Store, key_prefix: str
) -> None:
    s = f"{key_prefix}:s"
    await store.ensure_group(s, G)
    await publish(store, s, 300)
    assert len(await store.read_new(s, G, "dead", 300, 10)) == 300
    await publish(store, s, 3000, maxlen=1000)  # the oldest pending entries are trimmed away
    # Trimmed pending entries are reported (and dropped) whatever their idle time.
    result = await store.autoclaim(s, G, "c1", 3_600_000, "0-0", 1000)
    assert result.ids == [] and len(result.deleted_ids) == 300
    assert set(result.deleted_deliveries.values()) == {1}  # their counts survive in the tombstones
    assert await pending_ids(store, s, "c1") == []
    # Entries still in the stream are claimed without a delivery counted.
    await store.ensure_group(s, "h")
    fresh = await store.read_new(s, "h", "dead", 5, 10)

    async def claimed_by_c1() -> bool:
        return len((await store.autoclaim(s, "h", "c1", 50, "0-0", 5)).ids) == 5

    await eventually(claimed_by_c1)
    entry = await store.claim(s, "h", "c1", fresh[0].id)
    assert entry is not None and entry.deliveries == 2


async def test_a_pending_entry_trimmed_away_is_claimed_as_empty_fields_with_its_count(
    store: Store, key_prefix: str
) -> None:
    s = f"{key_prefix}:s"
    await store.ensure_group(s, G)
    await publish(store, s, 300)
    (first, *_) = await store.read_new(s, G, "c1", 300, 10)
    await publish(store, s, 3000, maxlen=1000)
    gone = await store.claim(s, G, "c1", first.id)
    assert gone is not None and gone.fields == {} and gone.deliveries == 1
    assert first.id not in await pending_ids(store, s, "c1")


async def test_a_missing_group_is_group_missing_on_every_command(store: Store, key_prefix: str) -> None:
    s = f"{key_prefix}:s"
    await publish(store, s, 1)
    calls = [
        store.read_new(s, G, "c", 1, 10),
        store.own_pending(s, G, "c", "0-0", 1),
        store.autoclaim(s, G, "c", 0, "0-0", 1),
        store.claim(s, G, "c", "0-1"),
    ]
    for call in calls:
        with pytest.raises(GroupMissing):
            await call


async def test_dead_letters_count_what_the_dlq_maxlen_dropped(store: Store, key_prefix: str) -> None:
    s, dlq = f"{key_prefix}:s", f"{key_prefix}:s:dlq"
    await store.ensure_group(s, G)
    await publish(store, s, 400)
    entries = await store.read_new(s, G, "c1", 400, 10)
    letters = [DeadLetter(e, "invalid", "bad") for e in entries]
    assert await store.dead_letter(s, G, dlq, letters[:50], 100) == 0
    dropped = await store.dead_letter(s, G, dlq, letters[50:], 100)
    kept = (await store.stats(s, G, dlq, f"{s}:trimmed")).dlq_length
    assert dropped == 400 - kept > 0
    assert await pending_ids(store, s, "c1") == []


async def test_breaker_keys_expire_and_counters_keep_their_maximum(store: Store, key_prefix: str) -> None:
    key = f"{key_prefix}:breaker"
    assert await store.breaker_reason(key) is None
    await store.open_breaker(key, "too many", 0.2)
    await store.open_breaker(key, "ignored: already open", 10)
    assert await store.breaker_reason(key) == "too many"

    async def closed() -> bool:
        return await store.breaker_reason(key) is None

    await eventually(closed)
    counter = f"{key_prefix}:max"
    assert [await store.keep_max(counter, v) for v in (3, 1, 5)] == [3, 3, 5]


async def test_only_idle_consumers_with_nothing_pending_are_removed(store: Store, key_prefix: str) -> None:
    s = f"{key_prefix}:s"
    await store.ensure_group(s, G)
    await publish(store, s, 2)
    (busy,) = await store.read_new(s, G, "busy", 1, 10)
    (done,) = await store.read_new(s, G, "empty", 1, 10)
    await store.commit(s, G, [done.id], [])
    removed: list[str] = []

    async def swept() -> bool:
        removed.extend(await store.remove_idle_consumers(s, G, "me", 100))
        return bool(removed)

    await eventually(swept)  # once both are idle past the bound, only the empty one goes
    assert removed == ["empty"]
    assert await pending_ids(store, s, "busy") == [busy.id]


async def test_commit_forwards_to_each_stream_then_acks_a_batch_of_any_size(store: Store, key_prefix: str) -> None:
    s, a, b = f"{key_prefix}:s", f"{key_prefix}:a", f"{key_prefix}:b"
    for stream in (s, a, b):
        await store.ensure_group(stream, G)
    await publish(store, s, 2500)
    read = await store.read_new(s, G, "c1", 2500, 10)
    assert len(read) == 2500
    outgoing = [Outgoing(a if i % 2 else b, {"e": str(i).encode(), "t": b"x"}, 100_000) for i in range(5)]
    await store.commit(s, G, [e.id for e in read], outgoing)
    assert await pending_ids(store, s, "c1") == []  # every id acked, past Lua's unpack limits too
    got_a, got_b = await store.read_new(a, G, "c1", 10, 10), await store.read_new(b, G, "c1", 10, 10)
    assert [e.fields for e in got_a] == [{"e": str(i).encode(), "t": b"x"} for i in (1, 3)]
    assert [e.fields for e in got_b] == [{"e": str(i).encode(), "t": b"x"} for i in (0, 2, 4)]
