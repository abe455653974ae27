"""The composition root of the anomaly-detector.

It is a documented singleton per pipeline: per-series state is read and written under row locks, so
a second replica stays correct, but windows of one series must be judged in order, which one
consumer guarantees."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_anomaly.detector import DetectorConfig
from reflex_anomaly.handler import AnomalyHandler, AnomalyMetrics
from reflex_anomaly.settings import AnomalySettings
from reflex_common.db import apply_migrations, open_pool, transient_db
from reflex_common.keys import ANOMALY_GROUP
from reflex_common.streams.redis_stream import open_redis_streams
from reflex_common.worker import ConsumerWorker, consumer_worker


@contextlib.asynccontextmanager
async def create_worker(
    settings: AnomalySettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[ConsumerWorker]:
    keys = settings.keys
    async with (
        open_redis_streams(settings.redis_url, settings.block_ms) as (port, redis),
        open_pool(settings.database_url, settings.db_pool_max, name="anomaly") as pool,
    ):

        async def prepare() -> None:
            with transient_db():
                async with pool.connection() as conn:
                    await apply_migrations(conn)

        config = DetectorConfig(
            min_history=settings.min_history,
            threshold_sigmas=settings.threshold_sigmas,
            silence_min_expected=settings.silence_min_expected,
        )
        handler = AnomalyHandler(pool, config, settings.history_windows, AnomalyMetrics(registry), tracer)
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
