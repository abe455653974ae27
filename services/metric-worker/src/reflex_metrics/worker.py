"""The composition root of the metric-worker: the counting consumer plus the window closer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_common.keys import METRICS_GROUP
from reflex_common.streams.backlog import BacklogMonitor
from reflex_common.worker import ConsumerWorker, consumer_worker, preparation, worker_connections
from reflex_metrics.closer import WindowCloser
from reflex_metrics.counter import CountHandler
from reflex_metrics.metrics import MetricWorkerMetrics
from reflex_metrics.settings import MetricSettings


@contextlib.asynccontextmanager
async def create_worker(
    settings: MetricSettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[tuple[ConsumerWorker, WindowCloser]]:
    keys = settings.keys
    async with worker_connections(settings, "metrics") as (port, redis, pool):
        prepare = preparation(pool, port, keys.windows_stream, settings.windows_groups)
        metrics = MetricWorkerMetrics(registry)
        closer = WindowCloser(
            pool,
            port,
            keys.windows_stream,
            settings.stream_maxlen,
            window_s=settings.window_s,
            lateness_s=settings.lateness_s,
            max_windows_per_pass=settings.max_windows_per_pass,
            tracer=tracer,
            metrics=metrics,
            backpressure=BacklogMonitor(
                port,
                keys.windows_stream,
                settings.max_backlog_entries,
                settings.backlog_refresh_s,
                groups=settings.windows_groups,
            ),
        )
        worker = consumer_worker(
            settings=settings,
            port=port,
            redis=redis,
            pool=pool,
            handler=CountHandler(pool, tracer, settings.window_s, metrics),
            stream=keys.events_stream,
            group=METRICS_GROUP,
            registry=registry,
            prepare=prepare,
            side_tasks=[lambda: closer.run(settings.close_interval_s, settings.counted_retention_s)],
        )
        yield worker, closer
