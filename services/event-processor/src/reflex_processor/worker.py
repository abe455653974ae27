"""The composition root of the event-processor: create_worker() builds it; entering it opens
Redis and Postgres; run() consumes until stop()."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_common.db import apply_migrations, open_pool, transient_db
from reflex_common.keys import PROCESSOR_GROUP
from reflex_common.streams.backlog import BacklogMonitor
from reflex_common.streams.redis_stream import open_redis_streams
from reflex_common.worker import ConsumerWorker, consumer_worker
from reflex_processor.handler import EventHandler, ProcessorMetrics
from reflex_processor.settings import ProcessorSettings


@contextlib.asynccontextmanager
async def create_worker(
    settings: ProcessorSettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[ConsumerWorker]:
    keys = settings.keys
    async with (
        open_redis_streams(settings.redis_url, settings.block_ms) as (port, redis),
        open_pool(settings.database_url, settings.db_pool_max, name="processor") as pool,
    ):

        async def prepare() -> None:
            with transient_db():
                async with pool.connection() as conn:
                    await apply_migrations(conn)
            for group in settings.events_groups:
                await port.ensure_group(keys.events_stream, group)

        handler = EventHandler(pool, tracer, ProcessorMetrics(registry), keys.events_stream, settings.stream_maxlen)
        # Pause reading while the metric-worker lags too far behind: trimming must never reach its entries.
        downstream = BacklogMonitor(
            port,
            keys.events_stream,
            settings.max_backlog_entries,
            settings.backlog_refresh_s,
            groups=settings.events_groups,
        )
        yield consumer_worker(
            settings=settings,
            port=port,
            redis=redis,
            pool=pool,
            handler=handler,
            stream=keys.raw_stream,
            group=PROCESSOR_GROUP,
            registry=registry,
            prepare=prepare,
            backpressure=downstream,
        )
