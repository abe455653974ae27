"""The operations endpoint of every service: /metrics, /livez and /readyz on health_port.

Readiness is built from real checks (a Redis PING, a database query, the consumer group joined);
liveness says the loop made progress recently, not that dependencies are up, so an outage does not
make the orchestrator restart every pod at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import orjson
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

Check = Callable[[], Awaitable[bool]]


# How long one readiness check may take before it counts as failed (a scrape must not hang on it).
CHECK_TIMEOUT_S = 3.0


class CheckFailed(Exception):
    """Raised by a readiness check to fail with a reason; the probe body names it."""


async def checked(ready_checks: Mapping[str, Check]) -> tuple[dict[str, bool], dict[str, str]]:
    """Every check at once: whether each passed, and why those that raised failed. A check that takes
    over CHECK_TIMEOUT_S fails."""

    async def one(check: Check) -> tuple[bool, str | None]:
        try:
            return bool(await asyncio.wait_for(check(), CHECK_TIMEOUT_S)), None
        except TimeoutError:
            return False, f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as exc:
            return False, str(exc) or type(exc).__name__

    outcomes = await asyncio.gather(*(one(check) for check in ready_checks.values()))
    results = {name: ok for name, (ok, _) in zip(ready_checks, outcomes, strict=True)}
    reasons = {name: why for name, (_, why) in zip(ready_checks, outcomes, strict=True) if why is not None}
    return results, reasons


async def run_checks(ready_checks: Mapping[str, Check]) -> dict[str, bool]:
    """Every check at once, each False when it fails, raises or takes over CHECK_TIMEOUT_S."""
    return (await checked(ready_checks))[0]


async def all_pass(checks: Mapping[str, Check]) -> bool:
    """Whether every check passes (one that raises or hangs fails)."""
    return all((await run_checks(checks)).values())


def health_app(
    registry: CollectorRegistry, ready_checks: Mapping[str, Check], alive: Callable[[], bool]
) -> web.Application:
    ready = Gauge(
        "reflex_ready", "1 while every readiness check passes (what /readyz answers), else 0.", registry=registry
    )

    async def metrics(_: web.Request) -> web.Response:
        ready.set(all((await run_checks(ready_checks)).values()))
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def livez(_: web.Request) -> web.Response:
        ok = alive()
        return web.json_response({"alive": ok}, status=200 if ok else 503, dumps=lambda o: orjson.dumps(o).decode())

    async def readyz(_: web.Request) -> web.Response:
        results, reasons = await checked(ready_checks)
        ok = all(results.values())
        ready.set(ok)
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
