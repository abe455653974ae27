"""The composition root of the anomaly-detector.

It is a documented singleton per pipeline: per-series state is read and written under row locks, so
a second replica stays correct, but windows of one series must be judged in order, which one
consumer guarantees."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_anomaly.handler import AnomalyHandler, AnomalyMetrics
from reflex_anomaly.settings import AnomalySettings
from reflex_common.keys import ANOMALY_GROUP
from reflex_common.worker import ConsumerWorker, consumer_worker, preparation, worker_connections


@contextlib.asynccontextmanager
async def create_worker(
    settings: AnomalySettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[ConsumerWorker]:
    keys = settings.keys
    async with worker_connections(settings, "anomaly") as (port, redis, pool):
        prepare = preparation(pool, port)
        handler = AnomalyHandler(
            pool, settings.detector_config(), settings.revisable_windows, AnomalyMetrics(registry), tracer
        )
        yield consumer_worker(
            settings=settings,
            port=port,
            redis=redis,
            pool=pool,
            handler=handler,
            stream=keys.windows_stream,
            group=ANOMALY_GROUP,
            registry=registry,
            prepare=prepare,
        )
