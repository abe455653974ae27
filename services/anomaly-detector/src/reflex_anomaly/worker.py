"""The composition root of the anomaly-detector: the judging consumer, and with ALERTMANAGER_URL
set, the alert sender beside it.

It is a documented singleton per pipeline: per-series state is read and written under row locks, so
a second replica stays correct, but windows of one series must be judged in order, which one
consumer guarantees."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import aiohttp
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from reflex_anomaly import incident_store
from reflex_anomaly.alertmanager import AlertmanagerClient
from reflex_anomaly.handler import AnomalyHandler, AnomalyMetrics
from reflex_anomaly.sender import AlertSender
from reflex_anomaly.settings import AnomalySettings
from reflex_common.db import transient_db
from reflex_common.keys import ANOMALY_GROUP
from reflex_common.streams import StreamPort
from reflex_common.worker import ConsumerWorker, consumer_worker, preparation, worker_connections


@contextlib.asynccontextmanager
async def create_worker(
    settings: AnomalySettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[ConsumerWorker]:
    keys = settings.keys
    async with contextlib.AsyncExitStack() as stack:
        port, redis, pool = await stack.enter_async_context(worker_connections(settings, "anomaly"))
        metrics = AnomalyMetrics(registry)
        sender = None
        if settings.alertmanager_url:
            session = await stack.enter_async_context(aiohttp.ClientSession())
            sender = AlertSender(
                pool,
                AlertmanagerClient(session, settings.alertmanager_url, settings.alertmanager_timeout_s),
                registry,
                resend_interval_s=settings.alert_resend_interval_s,
                retry_initial_s=settings.alert_retry_initial_s,
                retry_max_s=settings.alert_retry_max_s,
                timeout_s=settings.alertmanager_timeout_s,
                runbook_url=settings.alert_runbook_url,
            )
        handler = AnomalyHandler(
            pool,
            settings.detector_config(),
            settings.revisable_windows,
            metrics,
            tracer,
            resolve_after_windows=settings.resolve_after_windows,
            outbox=sender is not None,
            on_enqueued=sender.wake if sender else lambda: None,
        )
        side_tasks: list[Callable[[], Coroutine[Any, Any, None]]] = [sender.run] if sender else []
        yield consumer_worker(
            settings=settings,
            port=port,
            redis=redis,
            pool=pool,
            handler=handler,
            stream=keys.windows_stream,
            group=ANOMALY_GROUP,
            registry=registry,
            prepare=_preparation(pool, port, metrics, outbox=sender is not None),
            side_tasks=side_tasks,
        )


def _preparation(
    pool: AsyncConnectionPool, port: StreamPort, metrics: AnomalyMetrics, *, outbox: bool
) -> Callable[[], Coroutine[Any, Any, None]]:
    """Migrations, then the open-incident gauge from the table; with delivery on, every open
    incident the outbox does not hold yet (delivery was off when it opened) goes into it."""
    migrate = preparation(pool, port)

    async def prepare() -> None:
        await migrate()
        with transient_db():
            async with pool.connection() as conn, conn.transaction():
                metrics.restore_open(await incident_store.open_keys(conn))
                if outbox:
                    await incident_store.enqueue_unsent(conn)

    return prepare
