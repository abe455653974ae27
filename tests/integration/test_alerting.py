"""Delivery to on-call through the whole pipeline and a real Alertmanager: a steady source goes
silent, the alert fires in Alertmanager (and reaches its receiver); traffic resumes, it resolves.

The workers run as real processes (`python -m ...`) with 2 s windows; the ingress runs in the test.
Alertmanager is Debian's `prometheus-alertmanager` on a private port, notifying a webhook in the
test with resolved notifications on, so the test sees what on-call would be sent.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psycopg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline import github_headers, ingress_app
from reflex_common.testing import MissingBinaryError, free_port
from reflex_common.testing.alertmanager import AlertmanagerProcess, start_alertmanager_process
from reflex_common.testing.children import Child
from workers import start_worker

WINDOW_S = 2
EVENTS_PER_WINDOW = 5


class Receiver:
    """Alertmanager's webhook receiver: every notification it is sent."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def hook(self, request: web.Request) -> web.Response:
        self.notifications.append(await request.json())
        return web.Response()

    def alerts(self, status: str, **labels: str) -> list[dict[str, Any]]:
        return [
            alert
            for n in self.notifications
            for alert in n["alerts"]
            if alert["status"] == status and labels.items() <= alert["labels"].items()
        ]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
    yield receiver
    await runner.cleanup()


@pytest.fixture
def alertmanager(receiver: Receiver) -> Any:
    try:
        process = start_alertmanager_process(webhook_url=receiver.url)
    except MissingBinaryError as exc:
        pytest.skip(f"no real Alertmanager to test against: {exc}")
    with process:
        yield process


async def eventually(condition: Callable[[], Awaitable[bool]], timeout_s: float, what: str, *procs: Child) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        for p in procs:
            if not p.alive:
                raise AssertionError(f"{p.name} exited with {p.returncode} waiting for {what}:\n{p.tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n" + "\n---\n".join(p.tail() for p in procs))
        await asyncio.sleep(0.1)


async def active_alerts(session: aiohttp.ClientSession, am: AlertmanagerProcess, **labels: str) -> list[Any]:
    async with session.get(f"{am.url}/api/v2/alerts") as response:
        alerts: list[dict[str, Any]] = await response.json()
    return [a for a in alerts if {"alertname": "ReflexAnomaly", **labels}.items() <= a["labels"].items()]


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.usefixtures("no_trace_export")
async def test_a_silent_source_fires_in_alertmanager_and_resolves_when_traffic_resumes(
    redis_url: str,
    migrated_db: str,
    key_prefix: str,
    tmp_path: Path,
    alertmanager: AlertmanagerProcess,
    receiver: Receiver,
) -> None:
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": migrated_db,
        "KEY_PREFIX": key_prefix,
        "LOG_LEVEL": "info",
        "BLOCK_MS": "100",
        "WINDOW_S": str(WINDOW_S),
        "LATENESS_S": "0.5",
        "CLOSE_INTERVAL_S": "0.2",
        "MIN_HISTORY": "3",
        "RESOLVE_AFTER_WINDOWS": "2",
        "ALERTMANAGER_URL": alertmanager.url,
        "ALERT_RESEND_INTERVAL_S": "1",
        "ALERT_RETRY_INITIAL_S": "0.2",
        "ALERT_RETRY_MAX_S": "1",
    }
    workers = [
        start_worker(module, {**env, "CONSUMER_NAME": name}, tmp_path / f"{name}.log")
        for module, name in (("reflex_processor", "p1"), ("reflex_metrics", "m1"), ("reflex_anomaly", "a1"))
    ]
    sending = asyncio.Event()

    async def traffic(client: TestClient) -> None:
        """EVENTS_PER_WINDOW signed webhooks per window, evenly spread, while `sending` is set."""
        n, interval_s, next_at = 0, WINDOW_S / EVENTS_PER_WINDOW, time.monotonic()
        while True:
            if not sending.is_set():
                await sending.wait()
                next_at = time.monotonic()  # a fresh schedule after a pause
            body = orjson.dumps({"n": n})
            response = await client.post("/api/v1/events/demo", data=body, headers=github_headers(body))
            assert response.status == 202, await response.text()
            n += 1
            # On a schedule, not a sleep after each post: a slow post does not lower the rate.
            next_at = max(next_at + interval_s, time.monotonic() - WINDOW_S)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def history_windows() -> int:
        async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
            cur = await conn.execute("SELECT history FROM anomaly_series WHERE source = 'demo' AND type = '*'")
            row = await cur.fetchone()
        return int(row[0]["windows_seen"]) if row else 0

    async def incidents() -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
            cur = await conn.execute("SELECT type, kind, resolution FROM incidents ORDER BY type, kind, opened_at")
            return await cur.fetchall()

    silence = {"source": "demo", "type": "*", "kind": "silence"}
    app = ingress_app(redis_url, key_prefix, tmp_path)
    try:
        async with TestClient(TestServer(app)) as client, aiohttp.ClientSession() as session:
            poster = asyncio.create_task(traffic(client))
            try:
                # Steady: enough closed windows for a baseline (MIN_HISTORY) with room to spare.
                sending.set()
                await eventually(lambda: _ge(history_windows(), 8), 90, "8 steady windows judged", *workers)
                assert await incidents() == []  # a steady source raises nothing
                assert await active_alerts(session, alertmanager) == []

                # Silence: the alert fires in Alertmanager, and on-call is notified.
                sending.clear()

                async def firing() -> bool:
                    alerts = await active_alerts(session, alertmanager, **silence)
                    return any(a["status"]["state"] == "active" for a in alerts)

                await eventually(firing, 30, "the silence alert to fire in Alertmanager", *workers)
                (alert,) = await active_alerts(session, alertmanager, **silence)
                assert alert["labels"]["severity"] == "critical"
                # ~5 events a window: the level before the silence is about 5, whatever the timing.
                summary = re.match(
                    r"silence on demo/\*: observed 0 vs expected ([0-9.]+) \(band ", alert["annotations"]["summary"]
                )
                assert summary is not None and 3.5 <= float(summary[1]) <= 6.5, alert["annotations"]["summary"]
                assert alert["annotations"]["runbook_url"].endswith("ReflexAnomaly.md")

                async def notified(status: str) -> bool:
                    return bool(receiver.alerts(status, **silence))

                await eventually(lambda: notified("firing"), 15, "the firing notification", *workers)

                # Traffic resumes: after RESOLVE_AFTER_WINDOWS windows in band the alert resolves.
                sending.set()

                async def resolved() -> bool:
                    return not await active_alerts(session, alertmanager, **silence) and await notified("resolved")

                await eventually(resolved, 40, "the silence alert to resolve", *workers)

                async def all_resolved() -> bool:
                    return all(resolution for *_, resolution in await incidents())

                await eventually(all_resolved, 20, "every incident to resolve", *workers)
            finally:
                poster.cancel()
                (ended,) = await asyncio.gather(poster, return_exceptions=True)
                if not isinstance(ended, asyncio.CancelledError):
                    raise AssertionError(f"the traffic stopped early: {ended!r}")
    finally:
        codes = [w.stop(30) for w in workers]
    assert codes == [0, 0, 0]
    # One incident per series and kind, each opened once and recovered; no spike or drop on the way.
    assert await incidents() == [("*", "silence", "recovered"), ("push", "silence", "recovered")]
    assert len(receiver.alerts("firing", **silence)) >= 1
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        assert await (await conn.execute("SELECT * FROM alert_outbox")).fetchall() == []


async def _ge(value: Awaitable[int], at_least: int) -> bool:
    return await value >= at_least
