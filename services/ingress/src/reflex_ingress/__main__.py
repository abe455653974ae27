"""`python -m reflex_ingress`: read the environment, configure logging and tracing, serve — one
process, or with INGRESS_WORKERS=N a supervisor of N worker processes (see supervisor.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

import structlog
import uvloop
from aiohttp import web

from reflex_common.errors import ConfigError
from reflex_common.health import health_app, serve
from reflex_common.heap import freeze_startup_heap
from reflex_common.logs import configure_logging
from reflex_common.metrics_registry import service_registry
from reflex_common.settings import load_settings
from reflex_common.telemetry import create_tracer_provider
from reflex_ingress import handlers
from reflex_ingress.app import create_app
from reflex_ingress.connections import IngressRunner, listening_socket
from reflex_ingress.keys import LOG_THROTTLE
from reflex_ingress.log_throttle import AiohttpLogs
from reflex_ingress.settings import IngressSettings
from reflex_ingress.sources.config import load_sources
from reflex_ingress.sources.registry import build_sources
from reflex_ingress.supervisor import supervise, watch_parent, worker_of


async def _serve(settings: IngressSettings, parent: socket.socket | None = None) -> None:
    """Serve the webhook port; the health port too, unless this is a supervisor's worker (`parent`:
    its channel to the supervisor, which serves the health port for all of them)."""
    sources = build_sources(load_sources(settings.sources_file))
    provider = create_tracer_provider("reflex-ingress")
    registry = service_registry("reflex-ingress")
    app = create_app(settings, sources, provider.get_tracer("reflex_ingress"), registry)
    AiohttpLogs.install(app[LOG_THROTTLE])
    log = structlog.get_logger("ingress")
    async with contextlib.AsyncExitStack() as stack:
        if parent is None:
            # The health port answers the same readiness as the webhook port's /readyz.
            ops = health_app(registry, handlers.ready_checks(app), lambda: True)
            await stack.enter_async_context(serve(ops, settings.health_port))
        runner = IngressRunner(app, settings)
        await runner.setup()
        freeze_startup_heap()  # the app is wired up: what is alive now lives as long as the process
        await web.SockSite(runner, listening_socket(settings, reuse_port=parent is not None)).start()
        log.info("ingress_started", port=settings.http_port, sources=sorted(sources))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if parent is not None:
            stack.push_async_callback(_cancelled, asyncio.create_task(watch_parent(parent, stop)))
        await stop.wait()
        log.info("ingress_stopping")
        # aiohttp's documented order: stop accepting, let in-flight requests finish, then
        # cleanup_ctx (which writes whatever is still queued for Redis).
        await runner.cleanup()
    provider.shutdown()


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    settings = load_settings(IngressSettings, "reflex-ingress")
    worker = worker_of(os.environ)
    configure_logging(settings.log_level, service="ingress")
    if worker is not None:
        structlog.contextvars.bind_contextvars(worker=worker[0])  # on every line of this worker
    try:
        if worker is None and settings.ingress_workers > 1:
            build_sources(load_sources(settings.sources_file))  # a configuration error stops us here, once
            sys.exit(uvloop.run(supervise(settings)))
        uvloop.run(_serve(settings, worker[1] if worker is not None else None))
    except ConfigError as exc:
        print(f"reflex-ingress: configuration error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
