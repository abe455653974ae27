"""The composition root of the ingress: create_app() builds an app that has not started."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_common.errors import ConfigError, TransientError
from reflex_common.redis_client import redis_from_url
from reflex_common.streams.backlog import BacklogMonitor
from reflex_common.streams.redis_stream import RedisStreams
from reflex_ingress import handlers
from reflex_ingress.budget import BodyBudget
from reflex_ingress.connections import handler_options
from reflex_ingress.enqueuer import Enqueuer
from reflex_ingress.keys import (
    BACKLOG,
    BUDGET,
    ENQUEUER,
    INGRESS_METRICS,
    LOG_THROTTLE,
    OFFLOAD,
    REDIS,
    REGISTRY,
    SETTINGS,
    SOURCES,
    TRACER,
)
from reflex_ingress.log_throttle import LogThrottle
from reflex_ingress.metrics import IngressMetrics
from reflex_ingress.middleware import observe, refusals
from reflex_ingress.settings import IngressSettings
from reflex_ingress.sources.registry import Source

# Kinds whose signature covers the public URL the sender used (the request's Host is never trusted).
URL_SIGNING_KINDS = frozenset({"twilio"})


def create_app(
    settings: IngressSettings, sources: dict[str, Source], tracer: Tracer, registry: CollectorRegistry
) -> web.Application:
    signing_url = sorted(name for name, s in sources.items() if s.kind in URL_SIGNING_KINDS)
    if signing_url and not (settings.public_base_url or settings.trust_forwarded_headers):
        raise ConfigError(
            f"sources {', '.join(signing_url)} sign the public URL: set PUBLIC_BASE_URL "
            "(or TRUST_FORWARDED_HEADERS=true behind a proxy that sets X-Forwarded-Host)"
        )
    largest = max((s.max_body_bytes for s in sources.values()), default=1024 * 1024)
    app = web.Application(
        client_max_size=largest + 1, middlewares=[observe, refusals], handler_args=handler_options(settings)
    )
    app[SETTINGS] = settings
    app[SOURCES] = sources
    app[TRACER] = tracer
    app[REGISTRY] = registry
    app[INGRESS_METRICS] = IngressMetrics(registry)
    app[BUDGET] = BodyBudget(settings.max_buffered_bytes)
    app[LOG_THROTTLE] = LogThrottle()
    app[OFFLOAD] = {name: asyncio.Semaphore(settings.offload_per_source) for name in sources}
    # One cleanup context per resource; teardown runs in reverse: the enqueuer writes what is
    # queued, then the backlog monitor stops, then the Redis client closes.
    app.cleanup_ctx.extend([_redis_ctx, _backlog_ctx, _enqueuer_ctx])
    app.router.add_route("POST", "/api/v1/events/{source}", handlers.receive_webhook)
    # Some providers prove endpoint ownership with a GET challenge (Meta, Microsoft Graph).
    app.router.add_route("GET", "/api/v1/events/{source}", handlers.receive_webhook)
    app.router.add_get("/livez", handlers.livez)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/openapi.json", handlers.openapi)
    return app


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[REDIS] = redis_from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
        max_connections=64,
    )
    try:
        yield
    finally:
        await app[REDIS].aclose()


async def _backlog_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    redis = app[REDIS]
    # The readers' groups are created with the first refresh (and again if they vanish), so the
    # backlog is measured — and trimming held off — from the very first event.
    backlog = BacklogMonitor(
        RedisStreams(redis, redis),
        settings.keys.raw_stream,
        settings.max_backlog_entries,
        settings.backlog_refresh_s,
        groups=settings.raw_groups,
    )
    app[BACKLOG] = backlog
    # Set with each refresh (not read at scrape time): with INGRESS_WORKERS > 1 the supervisor
    # scrapes the workers' metric files, never a worker's callbacks.
    backlog.on_refresh = app[INGRESS_METRICS].backlog.set
    with contextlib.suppress(TransientError):
        await backlog.refresh()  # Redis down at start: the monitor keeps trying, readiness says so
    monitor = asyncio.create_task(backlog.run(), name="backlog-monitor")
    try:
        yield
    finally:
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor


async def _enqueuer_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # The write round trips' own client: no socket timeout (a timer per reply), one deadline per
    # round trip instead (the enqueuer's timeout_s).
    writes = redis_from_url(
        settings.redis_url, socket_timeout=None, socket_connect_timeout=settings.redis_timeout_s, max_connections=4
    )
    enqueuer = Enqueuer(
        app[REDIS],
        settings.keys.raw_stream,
        settings.stream_maxlen,
        batch_max=settings.write_batch_max,
        max_pending=settings.max_pending_writes,
        durability=settings.durability,
        durability_timeout_ms=settings.durability_timeout_ms,
        writes=writes,
        timeout_s=settings.redis_timeout_s,
    )
    app[ENQUEUER] = enqueuer
    await enqueuer.start()
    try:
        yield
    finally:
        try:
            await enqueuer.stop()
        finally:
            await writes.aclose()
