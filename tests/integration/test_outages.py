"""Outages of Postgres and of Redis under a running event-processor: it pauses and retries, nothing
counts toward the DLQ, and once the server is back every event is stored exactly once.
These tests start (and stop) servers of their own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from pipeline import worker_settings
from reflex_common.db import apply_migrations
from reflex_common.ids import new_event_id
from reflex_common.keys import PROCESSOR_GROUP, Keys
from reflex_common.schemas import RawEvent
from reflex_common.testing import start_postgres_process, start_redis_process
from reflex_processor.settings import ProcessorSettings
from reflex_processor.worker import create_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def produce(redis_url: str, prefix: str, n: int, offset: int) -> None:
    async with Redis.from_url(redis_url) as r, r.pipeline(transaction=False) as pipe:
        for i in range(offset, offset + n):
            raw = RawEvent(
                event_id=new_event_id(),
                source="gh",
                kind="github",
                received_at_ms=int(time.time() * 1000),
                body=b'{"n": %d}' % i,
                headers={"x-github-event": "push"},
                delivery_key=f"d-{i}",
            )
            pipe.xadd(Keys(prefix).raw_stream, raw.to_fields())
        await pipe.execute()


async def stored(database_url: str) -> int:
    try:
        async with await psycopg.AsyncConnection.connect(database_url, connect_timeout=1) as conn:
            row = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
            return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_postgres_outage_pauses_the_processor_and_loses_nothing(redis_url: str, key_prefix: str) -> None:
    pg = await asyncio.to_thread(start_postgres_process)
    try:
        db = pg.url
        async with await psycopg.AsyncConnection.connect(db) as conn:
            await apply_migrations(conn)
        settings = ProcessorSettings(**{**worker_settings(redis_url, db, key_prefix, "p1"), "max_deliveries": 1})
        registry = CollectorRegistry()
        async with create_worker(settings, TracerProvider().get_tracer("t"), registry) as worker:
            task = asyncio.create_task(worker.run())
            await produce(redis_url, key_prefix, 200, 0)
            await eventually(lambda: _at_least(db, 200), 30, "the first 200 events")
            await asyncio.to_thread(pg.stop)
            await produce(redis_url, key_prefix, 300, 200)
            await asyncio.sleep(2.0)  # the processor meets the outage and keeps retrying
            await asyncio.to_thread(pg.restart)
            await eventually(lambda: _at_least(db, 500), 60, "all 500 events after the restart")
            worker.stop()
            await asyncio.wait_for(task, 30)
        assert _transient_errors(registry, key_prefix) > 0, "the outage was never met"
        assert await stored(db) == 500
        async with Redis.from_url(redis_url) as r:
            keys = Keys(key_prefix)
            # max_deliveries=1: had the outage counted as a failed delivery, these would be in the DLQ.
            assert await r.xlen(keys.dlq_stream(keys.raw_stream)) == 0
            assert int((await r.xpending(keys.raw_stream, PROCESSOR_GROUP))["pending"]) == 0
            assert await r.xlen(keys.events_stream) == 500
    finally:
        await asyncio.to_thread(pg.close)


async def test_redis_outage_pauses_the_processor_and_loses_nothing(migrated_db: str, key_prefix: str) -> None:
    redis_server = await asyncio.to_thread(start_redis_process, None, appendonly=True)
    try:
        url = redis_server.url
        settings = ProcessorSettings(**{**worker_settings(url, migrated_db, key_prefix, "p1"), "max_deliveries": 1})
        registry = CollectorRegistry()
        async with create_worker(settings, TracerProvider().get_tracer("t"), registry) as worker:
            task = asyncio.create_task(worker.run())
            await produce(url, key_prefix, 200, 0)
            await eventually(lambda: _at_least(migrated_db, 200), 30, "the first 200 events")
            await asyncio.to_thread(redis_server.stop)
            await asyncio.sleep(2.0)  # reads, acks and claims fail meanwhile; the loop retries
            assert not task.done()
            await asyncio.to_thread(redis_server.restart)
            await produce(url, key_prefix, 300, 200)
            await eventually(lambda: _at_least(migrated_db, 500), 60, "all 500 events after the restart")
            worker.stop()
            await asyncio.wait_for(task, 30)
        assert _transient_errors(registry, key_prefix) > 0, "the outage was never met"
        assert await stored(migrated_db) == 500
        async with Redis.from_url(url) as r:
            keys = Keys(key_prefix)
            assert await r.xlen(keys.dlq_stream(keys.raw_stream)) == 0
            assert int((await r.xpending(keys.raw_stream, PROCESSOR_GROUP))["pending"]) == 0
    finally:
        await asyncio.to_thread(redis_server.close)


async def _at_least(db: str, n: int) -> bool:
    return await stored(db) >= n


def _transient_errors(registry: CollectorRegistry, prefix: str) -> float:
    labels = {"stream": Keys(prefix).raw_stream, "group": PROCESSOR_GROUP}
    return registry.get_sample_value("reflex_consumer_transient_errors_total", labels) or 0.0
