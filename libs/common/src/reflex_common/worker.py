"""A stream-consumer service assembled: preparation (migrations, groups), the consumer loop, side
tasks (timers), readiness from real pings and liveness from loop progress."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Gauge
from psycopg_pool import AsyncConnectionPool
from redis.asyncio import Redis

from reflex_common.db import apply_migrations, open_pool, transient_db
from reflex_common.errors import TransientError
from reflex_common.health import Check, CheckFailed, all_pass
from reflex_common.redis_server import check_server
from reflex_common.settings import WorkerSettings
from reflex_common.streams import Consumer, ConsumerConfig, Handler, StreamPort
from reflex_common.streams.consumer import Backpressure
from reflex_common.streams.consumer_metrics import ConsumerMetrics
from reflex_common.streams.janitor import ConsumerJanitor
from reflex_common.streams.redis_stream import RedisStreams, open_redis_streams
from reflex_common.streams.stream_gauges import StreamGauges


def ping_checks(redis: Redis, pool: AsyncConnectionPool) -> dict[str, Check]:
    async def redis_ok() -> bool:
        return bool(await redis.ping())

    async def database_ok() -> bool:
        async with pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")
        return True

    return {"redis": redis_ok, "database": database_ok}


class ConsumerWorker:
    def __init__(
        self,
        consumer: Consumer,
        prepare: Callable[[], Awaitable[None]],
        checks: Mapping[str, Check],
        *,
        side_tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
    ) -> None:
        self.consumer = consumer
        self._prepare = prepare
        self._side_tasks = side_tasks
        self._prepared = False
        self._log = structlog.get_logger("worker")

        async def joined() -> bool:
            return consumer.joined

        async def breaker_closed() -> bool:
            if consumer.breaker_reason is not None:
                raise CheckFailed(f"dead-letter breaker open: {consumer.breaker_reason}")
            return True

        self.ready_checks: Mapping[str, Check] = {
            **checks,
            "group_joined": joined,
            "dead_letter_breaker": breaker_closed,
        }

    async def prepare(self) -> None:
        """Apply migrations and create groups, retrying while a dependency is down."""
        delay_s = 0.1
        while not self._prepared and not self.consumer.stopping:
            try:
                await self._prepare()
                self._prepared = True
            except TransientError as exc:
                # Waiting for a dependency at start is progress too: liveness must not restart us for it.
                self.consumer.last_progress_at = time.monotonic()
                self._log.warning("prepare_failed", error=str(exc), retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    async def run(self, *, burst: bool = False) -> None:
        await self.prepare()
        tasks = [asyncio.create_task(side(), name="side-task") for side in self._side_tasks]
        try:
            await self.consumer.run(burst=burst)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def stop(self) -> None:
        self.consumer.stop()

    def alive(self) -> bool:
        """The loop made progress, or is retrying or handling a batch within its deadline."""
        return self.consumer.alive()


def consumer_worker(
    *,
    settings: WorkerSettings,
    port: StreamPort,
    redis: Redis,
    pool: AsyncConnectionPool,
    handler: Handler,
    stream: str,
    group: str,
    registry: CollectorRegistry,
    prepare: Callable[[], Awaitable[None]],
    backpressure: Backpressure | None = None,
    side_tasks: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
) -> ConsumerWorker:
    """The usual assembly: a consumer of `stream` as `group` from settings, its stream gauges
    refreshed every stats_interval_s, readiness from Redis and Postgres pings."""
    config = ConsumerConfig.from_settings(settings, stream, group)
    checks = ping_checks(redis, pool)
    consumer = Consumer(
        port,
        handler,
        config,
        ConsumerMetrics(registry),
        backpressure=backpressure,
        dependencies_ok=lambda: all_pass(checks),
    )
    gauges = StreamGauges(port, config, registry)
    unsafe = Gauge(
        "reflex_redis_unsafe_settings",
        "Redis settings found unsafe but working at start (each logged as redis_unsafe_setting).",
        registry=registry,
    )

    async def checked_prepare() -> None:
        fitness = await check_server(redis)  # ConfigError (eviction on) stops the start
        unsafe.set(len(fitness.warnings))
        for warning in fitness.warnings:
            structlog.get_logger("worker").warning("redis_unsafe_setting", warning=warning, server=fitness.server)
        await prepare()

    janitor = ConsumerJanitor(port, stream, group, config.consumer, settings.consumer_idle_max_s, registry)
    return ConsumerWorker(
        consumer,
        checked_prepare,
        checks,
        side_tasks=[
            lambda: gauges.run(settings.stats_interval_s),
            lambda: janitor.run(min(300.0, settings.consumer_idle_max_s / 4)),
            *side_tasks,
        ],
    )


@contextlib.asynccontextmanager
async def worker_connections(
    settings: WorkerSettings, name: str
) -> AsyncIterator[tuple[RedisStreams, Redis, AsyncConnectionPool]]:
    """The stream port (with its command client) and the database pool every worker runs on."""
    async with (
        open_redis_streams(settings.redis_url, settings.block_ms) as (port, redis),
        open_pool(settings.database_url, settings.db_pool_max, name=name) as pool,
    ):
        yield port, redis, pool


def preparation(
    pool: AsyncConnectionPool, port: StreamPort, output_stream: str = "", reader_groups: Sequence[str] = ()
) -> Callable[[], Awaitable[None]]:
    """A worker's start-up step: apply the migrations, then create the groups that read the stream it
    writes to (so that stream's backlog counts from its first entry)."""

    async def prepare() -> None:
        with transient_db():
            async with pool.connection() as conn:
                await apply_migrations(conn)
        for group in reader_groups:
            await port.ensure_group(output_stream, group)

    return prepare
