"""The dead-letter circuit breaker and the bound on transient retries, against real Redis and
Postgres: a consumer fed nothing but invalid entries stops after the bound (readiness false, the
reason named, a gauge), resumes when `reflexctl breaker close` or the cool-down ends it; an entry
whose own query keeps timing out is found by bisection and failed, while an outage never is."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from reflex_common.db import transient_db
from reflex_common.health import health_app
from reflex_common.keys import PROCESSOR_GROUP, Keys
from reflex_common.streams import Consumer, ConsumerConfig, Entry, Outcome
from reflex_common.streams.breaker import DeadLetterBreaker
from reflex_common.streams.consumer_metrics import ConsumerMetrics
from reflex_common.streams.redis_stream import RedisStreams
from reflex_common.worker import ConsumerWorker
from reflexctl.__main__ import main as reflexctl


def config(prefix: str, **overrides: object) -> ConsumerConfig:
    stream = Keys(prefix).raw_stream
    values: dict[str, object] = dict(
        stream=stream,
        group=PROCESSOR_GROUP,
        consumer="c1",
        dlq_stream=Keys(prefix).dlq_stream(stream),
        trimmed_counter_key=Keys(prefix).trimmed_counter(stream),
        breaker_key=Keys(prefix).breaker(stream, PROCESSOR_GROUP),
        batch_size=50,
        block_ms=50,
        min_idle_ms=60_000,
        claim_interval_s=0.05,
        retry_backoff_max_s=0.05,
        breaker_window_entries=200,
        breaker_max_ratio=0.5,
        breaker_cooldown_s=300,
        max_transient_retries=3,
    )
    values.update(overrides)
    return ConsumerConfig(**values)  # type: ignore[arg-type]


class AllInvalid:
    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        return Outcome(invalid={e.id: "bad schema" for e in entries})


async def add(redis: Redis, stream: str, n: int) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(stream, {"n": str(i)})
        await pipe.execute()


async def unhandled(redis: Redis, stream: str) -> int:
    (group,) = await redis.xinfo_groups(stream)
    return int(group["lag"]) + int(group["pending"])


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _gone(redis: Redis, key: str) -> bool:
    return not await redis.exists(key)


def test_the_window_slides() -> None:
    breaker = DeadLetterBreaker(window_entries=10, max_ratio=0.5)
    assert breaker.record(settled=10, dead_lettered=5) is None  # 5 of 10: at the bound, not past it
    assert breaker.record(settled=5, dead_lettered=0) is None  # 5 good ones push 5 letters out
    reason = breaker.record(settled=6, dead_lettered=6)
    assert reason is not None and reason.startswith("6 of the last 10")


async def test_2000_invalid_entries_open_the_breaker_after_the_bound_and_the_rest_stay(
    port: RedisStreams, redis: Redis, key_prefix: str, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(key_prefix)
    await port.ensure_group(cfg.stream, cfg.group)
    await add(redis, cfg.stream, 2000)
    registry = CollectorRegistry()
    consumer = Consumer(port, AllInvalid(), cfg, ConsumerMetrics(registry))
    await consumer.run(burst=True)  # burst mode returns once the breaker holds it

    letters = await redis.xlen(cfg.dlq_stream)
    assert 100 < letters <= 100 + cfg.batch_size  # the bound, overshot by at most one batch
    assert await unhandled(redis, cfg.stream) == 2000 - letters  # the rest wait in the stream
    labels = {"stream": cfg.stream, "group": cfg.group}
    assert registry.get_sample_value("reflex_consumer_breaker_open", labels) == 1
    assert (await redis.get(cfg.breaker_key) or b"").startswith(b"%d of the last" % letters)

    async def noop() -> None:
        return None

    worker = ConsumerWorker(consumer, noop, {})
    async with TestClient(TestServer(health_app(registry, worker.ready_checks, worker.alive))) as client:
        response = await client.get("/readyz")
        body = await response.json()
    assert response.status == 503
    assert body["checks"]["dead_letter_breaker"] is False
    assert "dead-letter breaker open" in body["reasons"]["dead_letter_breaker"]

    assert reflexctl(["breaker", "status", "--redis-url", redis_url, "--key-prefix", key_prefix]) == 0
    assert "raw      OPEN" in capsys.readouterr().out
    assert reflexctl(["breaker", "close", "--stream", "raw", "--redis-url", redis_url, "--key-prefix", key_prefix]) == 0
    # Closed by hand: the consumer reads again (and, fed nothing but invalid entries, opens again).
    await consumer.run(burst=True)
    assert await redis.xlen(cfg.dlq_stream) > letters
    assert consumer.breaker_reason is not None


async def test_the_breaker_closes_after_its_cool_down_and_stops_every_consumer_of_the_group(
    port: RedisStreams, redis: Redis, key_prefix: str
) -> None:
    cfg = config(key_prefix, breaker_cooldown_s=0.3)
    await port.ensure_group(cfg.stream, cfg.group)
    await add(redis, cfg.stream, 150)
    first = Consumer(port, AllInvalid(), cfg, ConsumerMetrics(CollectorRegistry()))
    await first.run(burst=True)
    assert first.breaker_reason is not None
    # Another consumer of the group sees the open breaker and does not read.
    await add(redis, cfg.stream, 10)
    other = Consumer(port, AllInvalid(), config(key_prefix, consumer="c2"), ConsumerMetrics(CollectorRegistry()))
    await other.run(burst=True)
    assert other.breaker_reason == first.breaker_reason
    before = await unhandled(redis, cfg.stream)
    assert before == 10
    # After the cool-down the key is gone: reading resumes and the last 10 go (to the DLQ).
    await eventually(lambda: _gone(redis, cfg.breaker_key), 10)
    await other.run(burst=True)
    assert await unhandled(redis, cfg.stream) == 0
    assert other.breaker_reason is None


class SlowQuery:
    """Runs a real query per batch; the entry marked slow makes it exceed statement_timeout."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.outage = False

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        seconds = 1 if any(e.fields["n"] == b"slow" for e in entries) else 0
        url = "postgresql://127.0.0.1:1/none" if self.outage else self.database_url
        with transient_db():
            async with await psycopg.AsyncConnection.connect(url, connect_timeout=1) as conn:
                await conn.execute("SET statement_timeout = '50ms'")
                await conn.execute("SELECT pg_sleep(%s)", (seconds,))
        return Outcome(done=[e.id for e in entries])


async def test_an_entry_whose_own_query_keeps_timing_out_is_bisected_out_and_failed(
    port: RedisStreams, redis: Redis, key_prefix: str, database_url: str
) -> None:
    cfg = config(key_prefix, max_deliveries=1)
    await port.ensure_group(cfg.stream, cfg.group)
    await add(redis, cfg.stream, 7)
    slow = (await redis.xadd(cfg.stream, {"n": "slow"})).decode()
    await add(redis, cfg.stream, 8)

    async def database_answers() -> bool:
        async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=1) as conn:
            await conn.execute("SELECT 1")
        return True

    consumer = Consumer(
        port, SlowQuery(database_url), cfg, ConsumerMetrics(CollectorRegistry()), dependencies_ok=database_answers
    )
    await consumer.run(burst=True)
    letters = await redis.xrange(cfg.dlq_stream)
    assert [f[b"dlq:original_id"].decode() for _, f in letters] == [slow]
    assert b"past 3 retries" in letters[0][1][b"dlq:error"]
    assert (letters[0][1][b"dlq:reason"], letters[0][1][b"dlq:error_class"]) == (b"failed", b"QueryCanceled")
    assert await unhandled(redis, cfg.stream) == 0


async def test_an_outage_is_retried_without_bound_and_dead_letters_nothing(
    port: RedisStreams, redis: Redis, key_prefix: str, database_url: str
) -> None:
    cfg = config(key_prefix, max_deliveries=1)
    await port.ensure_group(cfg.stream, cfg.group)
    await add(redis, cfg.stream, 5)
    handler = SlowQuery(database_url)
    handler.outage = True
    registry = CollectorRegistry()

    async def database_answers() -> bool:
        return False  # the pings fail too: an outage, not the batch's own failure

    consumer = Consumer(port, handler, cfg, ConsumerMetrics(registry), dependencies_ok=database_answers)
    task = asyncio.create_task(consumer.run())
    labels = {"stream": cfg.stream, "group": cfg.group}

    async def retried_10_times() -> bool:
        return (registry.get_sample_value("reflex_consumer_transient_errors_total", labels) or 0) >= 10

    async def all_handled() -> bool:
        return await unhandled(redis, cfg.stream) == 0

    await eventually(retried_10_times, 30)
    handler.outage = False
    await eventually(all_handled, 30)
    consumer.stop()
    await task
    assert await redis.xlen(cfg.dlq_stream) == 0
