"""The operations endpoint of every service: /metrics, /livez and /readyz on health_port.

Readiness is built from real checks (a Redis PING, a database query, the consumer group joined);
liveness says the loop made progress recently, not that dependencies are up, so an outage does not
make the orchestrator restart every pod at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Check = Callable[[], Awaitable[bool]]


def health_app(
    registry: CollectorRegistry, ready_checks: Mapping[str, Check], alive: Callable[[], bool]
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def livez(_: web.Request) -> web.Response:
        ok = alive()
        return web.json_response({"alive": ok}, status=200 if ok else 503, dumps=lambda o: orjson.dumps(o).decode())

    async def readyz(_: web.Request) -> web.Response:
        results = {}
        for name, check in ready_checks.items():
            try:
                results[name] = await check()
            except Exception:
                results[name] = False
        ok = all(results.values())
        return web.json_response(
            {"ready": ok, "checks": results}, status=200 if ok else 503, dumps=lambda o: orjson.dumps(o).decode()
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    return app


@contextlib.asynccontextmanager
async def serve(app: web.Application, port: int, host: str = "0.0.0.0") -> AsyncIterator[web.AppRunner]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield runner
    finally:
        await runner.cleanup()
