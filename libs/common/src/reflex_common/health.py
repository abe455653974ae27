"""The operations endpoint of every service: /metrics, /livez and /readyz on health_port.

Readiness is built from real checks (a Redis PING, a database query, the consumer group joined);
liveness says the loop made progress recently, not that dependencies are up, so an outage does not
make the orchestrator restart every pod at once.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import orjson
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Check = Callable[[], Awaitable[bool]]


class CheckFailed(Exception):
    """Raised by a readiness check to fail with a reason; the probe body names it."""


async def all_pass(checks: Mapping[str, Check]) -> bool:
    """Whether every check passes (one that raises fails)."""
    for check in checks.values():
        try:
            if not await check():
                return False
        except Exception:
            return False
    return True


def health_app(
    registry: CollectorRegistry, ready_checks: Mapping[str, Check], alive: Callable[[], bool]
) -> web.Application:
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def livez(_: web.Request) -> web.Response:
        ok = alive()
        return web.json_response({"alive": ok}, status=200 if ok else 503, dumps=lambda o: orjson.dumps(o).decode())

    async def readyz(_: web.Request) -> web.Response:
        results: dict[str, bool] = {}
        reasons: dict[str, str] = {}
        for name, check in ready_checks.items():
            try:
                results[name] = await check()
            except Exception as exc:
                results[name] = False
                reasons[name] = str(exc) or type(exc).__name__
        ok = all(results.values())
        body: dict[str, object] = {"ready": ok, "checks": results}
        if reasons:
            body["reasons"] = reasons
        if not ok:
            log.warning("not_ready", failed=[n for n, passed in results.items() if not passed], reasons=reasons)
        return web.json_response(body, status=200 if ok else 503, dumps=lambda o: orjson.dumps(o).decode())

    log = structlog.get_logger("health")
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
