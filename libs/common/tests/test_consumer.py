"""The consumer runtime against a real Redis: each property of the loop, one test each."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from reflex_common.errors import InvalidMessage, TransientError
from reflex_common.settings import WorkerSettings
from reflex_common.streams import Consumer, ConsumerConfig, Entry, Outcome, Outgoing
from reflex_common.streams.consumer_metrics import ConsumerMetrics
from reflex_common.streams.redis_stream import RedisStreams
from reflex_common.worker import ConsumerWorker

GROUP = "g"


def config(prefix: str, **overrides: object) -> ConsumerConfig:
    values: dict[str, object] = dict(
        stream=f"{prefix}:in",
        group=GROUP,
        consumer="c1",
        dlq_stream=f"{prefix}:in:dlq",
        trimmed_counter_key=f"{prefix}:in:trimmed",
        trimmed_unread_key=f"{prefix}:in:trimmed_unread:{GROUP}",
        batch_size=50,
        max_in_flight=100,
        block_ms=50,
        min_idle_ms=100,
        claim_interval_s=0.05,
        max_deliveries=3,
        retry_backoff_max_s=0.1,
    )
    values.update(overrides)
    return ConsumerConfig(**values)  # type: ignore[arg-type]


class Recorder:
    """A handler that records what it saw, forwards each entry, and fails as told."""

    def __init__(self, out_stream: str | None = None) -> None:
        self.batches: list[list[str]] = []
        self.deliveries: dict[str, int] = {}
        self.poison: set[bytes] = set()
        self.invalid: set[bytes] = set()
        self.transient_failures = 0
        self.out_stream = out_stream

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        self.batches.append([e.id for e in entries])
        for e in entries:
            self.deliveries[e.id] = max(self.deliveries.get(e.id, 0), e.deliveries)
        if self.transient_failures:
            self.transient_failures -= 1
            raise TransientError("database down")
        for e in entries:
            if e.fields.get("n") in self.poison:
                raise RuntimeError(f"poison {e.fields['n']!r}")
            if e.fields.get("n") in self.invalid:
                raise InvalidMessage("bad schema")
        forward = [Outgoing(self.out_stream, dict(e.fields), 1000) for e in entries] if self.out_stream else []
        return Outcome(done=[e.id for e in entries], forward=forward)

    @property
    def seen(self) -> list[str]:
        return [i for batch in self.batches for i in batch]


def consumer(port: RedisStreams, handler: Recorder, cfg: ConsumerConfig) -> Consumer:
    return Consumer(port, handler, cfg, ConsumerMetrics(CollectorRegistry()))


async def add(redis: Redis, stream: str, n: int) -> list[str]:
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(stream, {"n": str(i)})
        return [i.decode() for i in await pipe.execute()]


async def pending(redis: Redis, stream: str) -> int:
    return int((await redis.xpending(stream, GROUP))["pending"])


async def test_group_is_created_with_mkstream_and_busygroup_ignored(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix)
    await port.ensure_group(cfg.stream, GROUP)
    await port.ensure_group(cfg.stream, GROUP)  # BUSYGROUP is not an error
    groups = await redis.xinfo_groups(cfg.stream)
    assert [g["name"] for g in groups] == [GROUP.encode()]


async def test_batch_is_forwarded_then_acked_and_burst_returns_when_drained(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix)
    ids = await add(redis, cfg.stream, 120)
    handler = Recorder(out_stream=f"{key_prefix}:out")
    await consumer(port, handler, cfg).run(burst=True)
    assert sorted(handler.seen) == sorted(ids)
    assert await pending(redis, cfg.stream) == 0
    assert await redis.xlen(f"{key_prefix}:out") == 120
    assert max(len(b) for b in handler.batches) <= cfg.batch_size


async def test_count_never_exceeds_free_in_flight_slots(port: RedisStreams, redis: Redis, key_prefix: str) -> None:
    cfg = config(key_prefix, batch_size=50, max_in_flight=7)
    await add(redis, cfg.stream, 30)
    handler = Recorder()
    await consumer(port, handler, cfg).run(burst=True)
    assert len(handler.seen) == 30
    assert max(len(b) for b in handler.batches) == 7


async def test_own_pending_entries_are_drained_first_on_restart(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, min_idle_ms=60_000)
    await port.ensure_group(cfg.stream, GROUP)
    ids = await add(redis, cfg.stream, 5)
    # A previous life of consumer c1 read these and died before acking.
    await redis.xreadgroup(GROUP, "c1", {cfg.stream: ">"}, count=3)
    handler = Recorder()
    await consumer(port, handler, cfg).run(burst=True)
    assert handler.batches[:3] == [[i] for i in ids[:3]]  # suspects run alone, in order
    assert sorted(handler.seen) == sorted(ids)
    assert await pending(redis, cfg.stream) == 0


async def test_stale_entries_of_a_dead_consumer_are_reclaimed(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, consumer="c2", min_idle_ms=100)
    await port.ensure_group(cfg.stream, GROUP)
    ids = await add(redis, cfg.stream, 4)
    await redis.xreadgroup(GROUP, "dead", {cfg.stream: ">"}, count=4)
    handler = Recorder()
    await consumer(port, handler, cfg).run(burst=True)
    assert sorted(handler.seen) == sorted(ids)
    assert await pending(redis, cfg.stream) == 0
    info = await redis.xinfo_consumers(cfg.stream, GROUP)
    assert {c["name"]: c["pending"] for c in info}.get(b"dead", 0) == 0


async def test_poison_entry_is_dead_lettered_after_max_deliveries_and_the_rest_flow(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, max_deliveries=3)
    ids = await add(redis, cfg.stream, 10)
    handler = Recorder(out_stream=f"{key_prefix}:out")
    handler.poison = {b"4"}
    await consumer(port, handler, cfg).run(burst=True)
    assert await redis.xlen(f"{key_prefix}:out") == 9
    assert await pending(redis, cfg.stream) == 0
    letters = await redis.xrange(cfg.dlq_stream)
    assert len(letters) == 1
    fields = letters[0][1]
    assert fields[b"dlq:original_id"] == ids[4].encode()
    assert fields[b"dlq:deliveries"] == b"3"
    assert fields[b"n"] == b"4"
    assert b"poison" in fields[b"dlq:error"]
    assert (fields[b"dlq:reason"], fields[b"dlq:error_class"], fields[b"dlq:consumer"]) == (
        b"failed",
        b"RuntimeError",
        b"c1",
    )
    # delivered exactly max_deliveries times, never a fourth
    assert handler.deliveries[ids[4]] == 3


async def test_invalid_entry_is_dead_lettered_at_once(port: RedisStreams, redis: Redis, key_prefix: str) -> None:
    cfg = config(key_prefix, max_deliveries=5)
    ids = await add(redis, cfg.stream, 3)
    handler = Recorder()
    handler.invalid = {b"1"}
    await consumer(port, handler, cfg).run(burst=True)
    letters = await redis.xrange(cfg.dlq_stream)
    assert [f[b"dlq:original_id"] for _, f in letters] == [ids[1].encode()]
    assert letters[0][1][b"dlq:deliveries"] == b"1"
    assert (letters[0][1][b"dlq:reason"], letters[0][1][b"dlq:error_class"]) == (b"invalid", b"InvalidMessage")
    assert await pending(redis, cfg.stream) == 0


async def test_transient_failure_retries_without_counting_a_delivery(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, max_deliveries=1)
    ids = await add(redis, cfg.stream, 2)
    handler = Recorder()
    handler.transient_failures = 4  # more failures than max_deliveries allows
    await consumer(port, handler, cfg).run(burst=True)
    assert handler.batches[-1] == ids
    assert len(handler.batches) == 5
    assert await redis.xlen(cfg.dlq_stream) == 0
    assert await pending(redis, cfg.stream) == 0


async def test_entries_trimmed_while_pending_are_detected_counted_and_recorded(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, consumer="c2", min_idle_ms=50)
    await port.ensure_group(cfg.stream, GROUP)
    ids = await add(redis, cfg.stream, 3)
    await redis.xreadgroup(GROUP, "dead", {cfg.stream: ">"}, count=3)
    await redis.xtrim(cfg.stream, maxlen=1, approximate=False)  # the two oldest pending entries vanish
    handler = Recorder()
    await consumer(port, handler, cfg).run(burst=True)
    assert handler.seen == [ids[2]]
    assert int(await redis.get(cfg.trimmed_counter_key) or 0) == 2
    letters = await redis.xrange(cfg.dlq_stream)
    assert sorted(f[b"dlq:original_id"].decode() for _, f in letters) == sorted(ids[:2])
    assert all(f[b"dlq:reason"] == b"trimmed" for _, f in letters)
    assert [f[b"dlq:deliveries"] for _, f in letters] == [b"1", b"1"]  # the real count, not 0
    assert await pending(redis, cfg.stream) == 0


async def test_stop_finishes_and_acks_the_batch_in_hand(port: RedisStreams, redis: Redis, key_prefix: str) -> None:
    cfg = config(key_prefix, batch_size=10, block_ms=200)
    await add(redis, cfg.stream, 10)
    started = asyncio.Event()
    release = asyncio.Event()

    class Slow(Recorder):
        async def handle(self, entries: Sequence[Entry]) -> Outcome:
            started.set()
            await release.wait()
            return await super().handle(entries)

    handler = Slow()
    worker = consumer(port, handler, cfg)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 5)
    worker.stop()
    release.set()
    await asyncio.wait_for(task, 5)
    assert len(handler.seen) == 10
    assert await pending(redis, cfg.stream) == 0


async def test_stream_gauges_report_lag_pending_age_dlq_and_trimmed(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    from reflex_common.streams.stream_gauges import StreamGauges

    cfg = config(key_prefix)
    await port.ensure_group(cfg.stream, GROUP)
    await add(redis, cfg.stream, 5)
    await redis.xreadgroup(GROUP, "c9", {cfg.stream: ">"}, count=2)
    await redis.xadd(cfg.dlq_stream, {"dlq:error": "x"})
    await redis.incrby(cfg.trimmed_counter_key, 3)
    registry = CollectorRegistry()
    await StreamGauges(port, cfg, registry).refresh()
    labels = {"stream": cfg.stream, "group": GROUP}
    value = lambda name: registry.get_sample_value(name, labels)  # noqa: E731
    assert value("reflex_stream_lag_entries") == 3
    assert value("reflex_stream_pending_entries") == 2
    age_s = value("reflex_stream_oldest_pending_age_seconds")
    assert age_s is not None and 0 <= age_s < 60
    assert value("reflex_stream_dlq_entries") == 1
    assert value("reflex_stream_trimmed_entries") == 3
    assert value("reflex_stream_length_entries") == 5


async def test_concurrent_batches_never_hold_more_than_max_in_flight(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, batch_size=5, max_in_flight=12, max_concurrent_batches=3)
    ids = await add(redis, cfg.stream, 60)
    held = 0
    most_held = 0
    most_batches = 0
    batches = 0
    # Each batch is held until three are in hand at once (or 2 s pass), so a loaded machine that reads
    # slower than a batch finishes cannot hide the concurrency this test is about.
    three_at_once = asyncio.Event()

    class Slow(Recorder):
        async def handle(self, entries: Sequence[Entry]) -> Outcome:
            nonlocal held, most_held, most_batches, batches
            held += len(entries)
            batches += 1
            most_held, most_batches = max(most_held, held), max(most_batches, batches)
            if batches >= 3:
                three_at_once.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await three_at_once.wait()
            await asyncio.sleep(0.02)
            held -= len(entries)
            batches -= 1
            return await super().handle(entries)

    handler = Slow(out_stream=f"{key_prefix}:out")
    await consumer(port, handler, cfg).run(burst=True)
    assert sorted(handler.seen) == sorted(ids)
    assert most_batches == 3 and most_held <= 12
    assert await pending(redis, cfg.stream) == 0
    assert await redis.xlen(f"{key_prefix}:out") == 60


async def test_a_batch_slower_than_min_idle_is_not_claimed_away(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, min_idle_ms=400, claim_interval_s=0.05)
    ids = await add(redis, cfg.stream, 5)

    class Slow(Recorder):
        async def handle(self, entries: Sequence[Entry]) -> Outcome:
            await asyncio.sleep(1.6)  # four times min_idle_ms
            return await super().handle(entries)

    slow, other = Slow(), Recorder()
    first = consumer(port, slow, cfg)
    second = consumer(port, other, config(key_prefix, consumer="c2", min_idle_ms=400, claim_interval_s=0.05))
    task = asyncio.create_task(first.run(burst=True))
    await asyncio.sleep(0.1)  # c1 holds the batch now
    await asyncio.wait_for(asyncio.gather(task, second.run(burst=True)), 10)
    assert other.seen == []
    assert sorted(slow.seen) == sorted(ids)
    assert set(slow.deliveries.values()) == {1}
    assert await pending(redis, cfg.stream) == 0


async def test_claimed_entries_are_counted_only_when_read_one_by_one(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix)
    await port.ensure_group(cfg.stream, GROUP)
    await add(redis, cfg.stream, 10)
    await redis.xreadgroup(GROUP, "dead", {cfg.stream: ">"}, count=10)
    await add(redis, cfg.stream, 150)
    await redis.xreadgroup(GROUP, "c1", {cfg.stream: ">"}, count=150)  # ours, in hand
    await add(redis, cfg.stream, 10)
    await redis.xreadgroup(GROUP, "dead", {cfg.stream: ">"}, count=10)
    dead = [p["message_id"] for p in await redis.xpending_range(cfg.stream, GROUP, "-", "+", 1000, "dead")]
    for _ in range(4):
        await redis.xclaim(cfg.stream, GROUP, "dead", 0, dead)  # delivered 5 times in all
    await asyncio.sleep(0.15)
    ours = [p["message_id"] for p in await redis.xpending_range(cfg.stream, GROUP, "-", "+", 1000, "c1")]
    await redis.xclaim(cfg.stream, GROUP, "c1", 0, ours, justid=True)  # kept fresh by the heartbeat
    result = await port.autoclaim(cfg.stream, GROUP, "c1", 100, "0-0", 20)
    assert len(result.ids) == 20
    counts = {p["times_delivered"] for p in await redis.xpending_range(cfg.stream, GROUP, "-", "+", 1000, "c1")}
    assert counts == {1, 5}  # JUSTID: claiming counts no delivery...
    entries = [await port.claim(cfg.stream, GROUP, "c1", i) for i in result.ids]
    assert {e.deliveries for e in entries if e} == {6}  # ...reading each entry does


async def test_touch_keeps_our_entries_fresh_and_leaves_others_claims_alone(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix)
    await port.ensure_group(cfg.stream, GROUP)
    ids = await add(redis, cfg.stream, 4)
    await redis.xreadgroup(GROUP, "c1", {cfg.stream: ">"}, count=4)
    await redis.xclaim(cfg.stream, GROUP, "c2", 0, ids[2:])  # c1 missed a heartbeat; c2 took two
    await asyncio.sleep(0.05)
    await port.touch(cfg.stream, GROUP, "c1", ids)
    owners = {
        p["message_id"].decode(): (p["consumer"].decode(), p["times_delivered"])
        for p in await redis.xpending_range(cfg.stream, GROUP, "-", "+", 10)
    }
    assert owners == {ids[0]: ("c1", 1), ids[1]: ("c1", 1), ids[2]: ("c2", 2), ids[3]: ("c2", 2)}
    idle = {
        p["message_id"].decode(): p["time_since_delivered"]
        for p in await redis.xpending_range(cfg.stream, GROUP, "-", "+", 10, "c1")
    }
    assert all(ms < 50 for ms in idle.values())


class Held:
    """Handles a batch only once the test releases it; records what it saw and how often."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.deliveries: dict[str, int] = {}

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        for e in entries:
            self.deliveries[e.id] = e.deliveries
        self.started.set()
        await self.release.wait()
        return Outcome(done=[e.id for e in entries])


async def noop() -> None:
    return None


async def test_a_handler_slower_than_min_idle_but_within_its_deadline_is_not_claimed_and_stays_alive(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, batch_deadline_s=10, min_idle_ms=300)
    ids = [(await redis.xadd(cfg.stream, {"n": str(i)})).decode() for i in range(5)]
    slow, other = Held(), Recorder()
    first = Consumer(port, slow, cfg, ConsumerMetrics(CollectorRegistry()))
    worker = ConsumerWorker(first, noop, {})
    second = Consumer(
        port, other, config(key_prefix, consumer="c2", min_idle_ms=300), ConsumerMetrics(CollectorRegistry())
    )
    task = asyncio.create_task(first.run(burst=True))
    await asyncio.wait_for(slow.started.wait(), 10)
    claimer = asyncio.create_task(second.run())
    # Hold the batch for five times MIN_IDLE_MS while c2 tries to claim every 50 ms.
    until = time.monotonic() + 5 * cfg.min_idle_ms / 1000
    while time.monotonic() < until:
        assert worker.alive()
        await asyncio.sleep(0.05)
    slow.release.set()
    await asyncio.wait_for(task, 10)
    second.stop()
    await asyncio.wait_for(claimer, 10)
    assert other.seen == []
    assert slow.deliveries == dict.fromkeys(ids, 1)
    assert int((await redis.xpending(cfg.stream, GROUP))["pending"]) == 0


async def test_a_handler_past_its_deadline_is_cancelled_and_only_its_culprit_fails(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, batch_deadline_s=0.3, max_deliveries=1)
    for i in range(3):
        await redis.xadd(cfg.stream, {"n": str(i)})
    hang = (await redis.xadd(cfg.stream, {"n": "hang"})).decode()

    class HangsOnOne:
        async def handle(self, entries: Sequence[Entry]) -> Outcome:
            if any(e.fields.get("n") == b"hang" for e in entries):
                await asyncio.Event().wait()
            return Outcome(done=[e.id for e in entries])

    await Consumer(port, HangsOnOne(), cfg, ConsumerMetrics(CollectorRegistry())).run(burst=True)
    letters = await redis.xrange(cfg.dlq_stream)
    assert [f[b"dlq:original_id"].decode() for _, f in letters] == [hang]
    assert b"batch_deadline_s" in letters[0][1][b"dlq:error"]
    assert (letters[0][1][b"dlq:reason"], letters[0][1][b"dlq:error_class"]) == (b"failed", b"BatchDeadlineExceeded")
    assert int((await redis.xpending(cfg.stream, GROUP))["pending"]) == 0  # the other three acked


def test_liveness_is_never_shorter_than_the_batch_deadline() -> None:
    settings = WorkerSettings(batch_deadline_s=120, min_idle_ms=60_000)
    now = [0.0]
    consumer = Consumer(
        port=None,  # type: ignore[arg-type]
        handler=Recorder(),
        config=ConsumerConfig.from_settings(settings, "s", "g"),
        metrics=ConsumerMetrics(CollectorRegistry()),
        clock=lambda: now[0],
    )
    assert consumer.liveness_s >= 120
    now[0] = 119.0
    assert consumer.alive()  # a batch still within its deadline
    now[0] = consumer.liveness_s + 1
    assert not consumer.alive()  # stuck past the deadline and every retry: restart the pod


async def test_dead_letters_lost_to_the_dlq_maxlen_are_counted(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, dlq_maxlen=100, breaker_max_ratio=1.0, batch_size=50)
    await add(redis, cfg.stream, 400)
    handler = Recorder()
    handler.invalid = {str(i).encode() for i in range(400)}
    registry = CollectorRegistry()
    await Consumer(port, handler, cfg, ConsumerMetrics(registry)).run(burst=True)
    kept = await redis.xlen(cfg.dlq_stream)
    dropped = registry.get_sample_value("reflex_stream_dlq_dropped_total", {"stream": cfg.stream, "group": GROUP})
    assert kept < 400
    assert dropped == 400 - kept


@pytest.mark.parametrize("adapter", ["redis", "memory"])
async def test_entries_trimmed_before_any_consumer_read_them_are_counted(
    adapter: str, port: RedisStreams, key_prefix: str
) -> None:
    from reflex_common.streams.memory_stream import MemoryStreams
    from reflex_common.streams.stream_gauges import StreamGauges

    store: RedisStreams | MemoryStreams = port if adapter == "redis" else MemoryStreams()
    cfg = config(key_prefix, batch_size=500, max_in_flight=1000)
    await store.ensure_group(cfg.stream, GROUP)
    await store.publish([Outgoing(cfg.stream, {"n": b"1"}, 1000)] * 3000)  # MAXLEN ~1000: most go unread
    registry = CollectorRegistry()
    gauges = StreamGauges(store, cfg, registry)
    labels = {"stream": cfg.stream, "group": GROUP}
    await gauges.refresh()
    length = (await store.stats(cfg.stream, GROUP, cfg.dlq_stream, cfg.trimmed_counter_key)).lag
    lost = registry.get_sample_value("reflex_stream_trimmed_unread_entries", labels)
    assert lost == 3000 - length and lost >= 1900
    handler = Recorder()
    await Consumer(store, handler, cfg, ConsumerMetrics(CollectorRegistry())).run(burst=True)
    assert len(handler.seen) == length
    await gauges.refresh()  # read now; the lost ones stay counted
    assert registry.get_sample_value("reflex_stream_trimmed_unread_entries", labels) == lost


async def test_the_janitor_removes_only_idle_consumers_with_nothing_pending(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    from reflex_common.streams.janitor import ConsumerJanitor

    cfg = config(key_prefix)
    await port.ensure_group(cfg.stream, GROUP)
    await add(redis, cfg.stream, 4)

    async def read(consumer: str, ack: bool) -> None:
        (_, [(entry_id, _)]), *_ = await redis.xreadgroup(GROUP, consumer, {cfg.stream: ">"}, count=1)
        if ack:
            await redis.xack(cfg.stream, GROUP, entry_id)

    await read("old-busy", ack=False)  # holds a pending entry
    await read("old-empty", ack=True)
    await read("c1", ack=True)  # ourselves, idle too

    async def all_idle() -> bool:
        return all(c["idle"] >= 200 for c in await redis.xinfo_consumers(cfg.stream, GROUP))

    deadline = time.monotonic() + 10
    while not await all_idle():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await read("fresh", ack=True)  # just seen
    registry = CollectorRegistry()
    janitor = ConsumerJanitor(port, cfg.stream, GROUP, "c1", idle_max_s=0.2, registry=registry)
    assert await janitor.sweep() == ["old-empty"]
    names = sorted(c["name"].decode() for c in await redis.xinfo_consumers(cfg.stream, GROUP))
    assert names == ["c1", "fresh", "old-busy"]
    assert int((await redis.xpending(cfg.stream, GROUP))["pending"]) == 1  # nothing dropped
    assert (
        registry.get_sample_value("reflex_consumer_janitor_removed_total", {"stream": cfg.stream, "group": GROUP}) == 1
    )


class Arrivals:
    """The consumer's sleep: records each wait, and while the consumer waits `per_wait` more entries
    arrive in the stream (a steady flow), the first few waits only."""

    def __init__(self, redis: Redis, stream: str, per_wait: int, waits_with_arrivals: int) -> None:
        self.redis, self.stream, self.per_wait = redis, stream, per_wait
        self.left = waits_with_arrivals
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.left:
            self.left -= 1
            await add(self.redis, self.stream, self.per_wait)


async def run_with_arrivals(
    port: RedisStreams, redis: Redis, cfg: ConsumerConfig, *, initial: int, per_wait: int, waits_with_arrivals: int
) -> tuple[Recorder, Arrivals]:
    await add(redis, cfg.stream, initial)
    arrivals = Arrivals(redis, cfg.stream, per_wait, waits_with_arrivals)
    handler = Recorder()
    metrics = ConsumerMetrics(CollectorRegistry())
    # A clock that stands still: handling a batch takes no time off the wait.
    await Consumer(port, handler, cfg, metrics, clock=lambda: 0.0, sleep=arrivals).run(burst=True)
    return handler, arrivals


async def test_after_a_partial_batch_the_next_read_waits_so_what_arrives_meanwhile_is_one_batch(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, batch_size=50, batch_wait_ms=25)
    handler, arrivals = await run_with_arrivals(port, redis, cfg, initial=3, per_wait=20, waits_with_arrivals=2)
    # Each partial read (3, then 20, then 20) is followed by one wait; the 20 that arrived during a
    # wait come as one batch, not as many small ones.
    assert [len(b) for b in handler.batches] == [3, 20, 20]
    assert arrivals.waits == [0.025] * 3
    assert await pending(redis, cfg.stream) == 0


async def test_full_batches_are_read_back_to_back_and_no_wait_is_configured_by_default(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, batch_size=50, batch_wait_ms=25)
    handler, arrivals = await run_with_arrivals(port, redis, cfg, initial=120, per_wait=0, waits_with_arrivals=0)
    assert [len(b) for b in handler.batches] == [50, 50, 20]
    assert arrivals.waits == [0.025]  # after the partial 20 only
    assert config(key_prefix).batch_wait_ms == 0  # the runtime's own default: the settings choose
    assert WorkerSettings().batch_wait_ms == 10


async def test_the_time_spent_handling_a_partial_batch_counts_toward_its_wait(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, batch_size=50, batch_wait_ms=25)
    await add(redis, cfg.stream, 3)
    now = [0.0]

    class Slow(Recorder):
        async def handle(self, entries: Sequence[Entry]) -> Outcome:
            now[0] += 0.010  # the batch takes 10 ms of the consumer's clock
            return await super().handle(entries)

    arrivals = Arrivals(redis, cfg.stream, per_wait=0, waits_with_arrivals=0)
    handler = Slow()
    metrics = ConsumerMetrics(CollectorRegistry())
    await Consumer(port, handler, cfg, metrics, clock=lambda: now[0], sleep=arrivals).run(burst=True)
    assert [len(b) for b in handler.batches] == [3]
    assert arrivals.waits == [pytest.approx(0.015)]
