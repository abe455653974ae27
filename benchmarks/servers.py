"""The servers a bench run uses: Redis and PostgreSQL (REDIS_URL / DATABASE_URL, else throwaway
ones), and the two HTTP apps of the ingress benchmark, each served by `python -m benchmarks --serve
ingress|bare` in a process of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import orjson

from benchmarks.report import say

SERVING_MARK = "BENCH_SERVING"
_BARE_REPLY = orjson.dumps({"id": "00000000-0000-7000-8000-000000000000"})


def bare_app() -> Any:
    from aiohttp import web

    async def accept(_: web.Request) -> web.Response:
        return web.Response(status=202, body=_BARE_REPLY, content_type="application/json")

    async def livez(_: web.Request) -> web.Response:
        return web.Response(status=200, body=b'{"alive":true}', content_type="application/json")

    app = web.Application(client_max_size=1024 * 1024 + 1)  # what create_app sets for the default limit
    app.router.add_route("POST", "/api/v1/events/{source}", accept)
    app.router.add_get("/livez", livez)
    return app


def ingress_app(settings: Any) -> tuple[Any, Any]:
    """The ingress app as reflex_ingress.__main__ builds it, and its tracer provider (shut down by the caller)."""
    from prometheus_client import CollectorRegistry

    from reflex_common.telemetry import create_tracer_provider
    from reflex_ingress.app import create_app
    from reflex_ingress.sources.config import load_sources
    from reflex_ingress.sources.registry import build_sources

    provider = create_tracer_provider("reflex-ingress")
    app = create_app(
        settings,
        build_sources(load_sources(settings.sources_file)),
        provider.get_tracer("reflex_ingress"),
        CollectorRegistry(),
    )
    return app, provider


async def _serve(kind: str) -> None:
    """Serve one app exactly the way reflex_ingress.__main__ serves the ingress."""
    from aiohttp import web

    provider = None
    if kind == "ingress":
        from reflex_common.logs import configure_logging
        from reflex_ingress.settings import IngressSettings

        settings = IngressSettings()
        configure_logging(settings.log_level, service="ingress")
        app, provider = ingress_app(settings)
    else:
        app = bare_app()
    host, port = os.environ.get("HTTP_HOST", "127.0.0.1"), int(os.environ["HTTP_PORT"])
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=10.0)
    await runner.setup()
    if kind == "ingress":
        from reflex_common.heap import freeze_startup_heap

        freeze_startup_heap()  # as reflex_ingress.__main__ does before it serves
    # BENCH_REUSE_PORT=1: one of several processes on the port, as INGRESS_WORKERS' workers are.
    reuse_port = os.environ.get("BENCH_REUSE_PORT") == "1"
    await web.TCPSite(runner, host, port, backlog=1024, reuse_port=reuse_port or None).start()
    print(SERVING_MARK, flush=True)  # this process takes connections now (the bench waits for every one)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    if provider is not None:
        provider.shutdown()


def serve_main(kind: str) -> int:
    import uvloop

    uvloop.run(_serve(kind))
    return 0


@contextlib.contextmanager
def servers(need_pg: bool) -> Iterator[tuple[str, str | None, dict[str, str]]]:
    from reflex_common.testing import postgres_server, redis_server

    with contextlib.ExitStack() as stack:
        origin = {"redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "throwaway"}
        if not os.environ.get("REDIS_URL"):
            say("bench: starting a throwaway Redis ...")
        redis_url = stack.enter_context(redis_server())
        pg_url = None
        if need_pg:
            origin["postgres"] = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "throwaway"
            if not os.environ.get("DATABASE_URL"):
                say("bench: starting a throwaway PostgreSQL ...")
            pg_url = stack.enter_context(postgres_server())
        yield redis_url, pg_url, origin
