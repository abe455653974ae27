"""The composition root of the event-processor: create_worker() builds it; entering it opens
Redis and Postgres; run() consumes until stop()."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_common.keys import PROCESSOR_GROUP
from reflex_common.streams.backlog import BacklogMonitor
from reflex_common.worker import ConsumerWorker, consumer_worker, preparation, worker_connections
from reflex_processor.handler import EventHandler, ProcessorMetrics
from reflex_processor.settings import ProcessorSettings


@contextlib.asynccontextmanager
async def create_worker(
    settings: ProcessorSettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[ConsumerWorker]:
    keys = settings.keys
    async with worker_connections(settings, "processor") as (port, redis, pool):
        prepare = preparation(pool, port, keys.events_stream, settings.events_groups)
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
