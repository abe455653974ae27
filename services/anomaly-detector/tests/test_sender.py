"""The alert outbox delivered to a real Alertmanager (Debian's prometheus-alertmanager, started on a
private port), and kept with backoff while Alertmanager cannot be reached."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import psycopg
import pytest
from prometheus_client import CollectorRegistry
from psycopg_pool import AsyncConnectionPool

from reflex_anomaly import incident_store, outbox
from reflex_anomaly.alertmanager import AlertDeliveryError, AlertmanagerClient
from reflex_anomaly.incidents import Incident
from reflex_anomaly.sender import AlertSender
from reflex_common.db import open_pool
from reflex_common.testing import MissingBinaryError
from reflex_common.testing.alertmanager import AlertmanagerProcess, start_alertmanager_process

T0 = datetime.now(tz=UTC).replace(microsecond=0) - timedelta(minutes=5)


def incidents_of(source: str) -> tuple[Incident, Incident]:
    """An open silence incident of `source` (one per test: the Alertmanager is shared), and the same
    incident resolved."""
    opened = Incident(
        source=source,
        type="*",
        kind="silence",
        window_s=60,
        opened_at=T0,
        last_anomalous_at=T0,
        last_window_at=T0,
        anomalous_windows=1,
        in_band_windows=0,
        observed=0,
        expected=100,
        lower=60,
        upper=140,
        explanation="no events; expected 100 per 60s window",
    )
    return opened, dataclasses.replace(opened, resolved_at=T0 + timedelta(minutes=3), resolution="recovered")


@pytest.fixture(scope="module")
def alertmanager() -> Iterator[AlertmanagerProcess]:
    try:
        process = start_alertmanager_process()
    except MissingBinaryError as exc:
        pytest.skip(f"no real Alertmanager to test against: {exc}")
    with process:
        yield process


@pytest.fixture
async def pool(migrated_db: str) -> AsyncIterator[AsyncConnectionPool]:
    async with open_pool(migrated_db, 2) as pool:
        yield pool


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def sender_to(pool: AsyncConnectionPool, session: aiohttp.ClientSession, url: str, **overrides: Any) -> AlertSender:
    options: dict[str, Any] = dict(
        resend_interval_s=60.0, retry_initial_s=100.0, retry_max_s=1000.0, timeout_s=2.0, runbook_url="rb"
    )
    return AlertSender(pool, AlertmanagerClient(session, url, 2.0), CollectorRegistry(), **{**options, **overrides})


async def record(pool: AsyncConnectionPool, incident: Incident) -> int:
    """What the handler does in its transaction: save the incident, enqueue it."""
    async with pool.connection() as conn, conn.transaction():
        ids = await incident_store.save(conn, [incident])
        (incident_id,) = ids.values()
        await incident_store.enqueue(conn, [incident_id])
    return incident_id


@contextlib.asynccontextmanager
async def running(sender: AlertSender) -> AsyncIterator[None]:
    """The sender's side task, running until the block ends."""
    task = asyncio.create_task(sender.run())
    try:
        yield
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def outbox_rows(db: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db) as conn:
        cur = await conn.execute(
            "SELECT version, attempts, last_error IS NOT NULL, due_at > now(),"
            " extract(epoch FROM due_at - now()) FROM alert_outbox"
        )
        return await cur.fetchall()


async def active_alerts(session: aiohttp.ClientSession, am: AlertmanagerProcess, source: str) -> list[dict[str, Any]]:
    async with session.get(f"{am.url}/api/v2/alerts") as response:
        assert response.status == 200
        alerts: list[dict[str, Any]] = await response.json()
    return [a for a in alerts if a["labels"].get("alertname") == "ReflexAnomaly" and a["labels"]["source"] == source]


@pytest.mark.slow
async def test_a_firing_incident_reaches_alertmanager_and_its_resolution_ends_it(
    pool: AsyncConnectionPool, session: aiohttp.ClientSession, alertmanager: AlertmanagerProcess, migrated_db: str
) -> None:
    sender = sender_to(pool, session, alertmanager.url)
    opened, resolved = incidents_of("shop-1")
    await record(pool, opened)
    assert await sender.deliver_due() == 1
    (alert,) = await active_alerts(session, alertmanager, "shop-1")
    assert alert["labels"] == {
        "alertname": "ReflexAnomaly",
        "source": "shop-1",
        "type": "*",
        "kind": "silence",
        "severity": "critical",
    }
    assert alert["annotations"]["runbook_url"] == "rb"
    assert "observed 0 vs expected 100 (band 60.0–140.0)" in alert["annotations"]["summary"]
    assert alert["status"]["state"] == "active"
    assert datetime.fromisoformat(alert["startsAt"]) == T0
    assert datetime.fromisoformat(alert["endsAt"]) > datetime.now(tz=UTC)  # valid for a while yet
    # Firing: kept in the outbox, due again one resend interval later.
    ((version, attempts, errored, later, _),) = await outbox_rows(migrated_db)
    assert (version, attempts, errored, later) == (1, 0, False, True)
    assert await sender.deliver_due() == 0  # nothing due now

    await record(pool, resolved)
    assert await sender.deliver_due() == 1
    assert await active_alerts(session, alertmanager, "shop-1") == []
    assert await outbox_rows(migrated_db) == []  # a resolution is sent once


@pytest.mark.slow
async def test_a_firing_alert_is_re_sent_with_a_later_end_before_its_end_passes(
    pool: AsyncConnectionPool, session: aiohttp.ClientSession, alertmanager: AlertmanagerProcess
) -> None:
    sender = sender_to(pool, session, alertmanager.url, resend_interval_s=0.2)
    await record(pool, incidents_of("shop-2")[0])
    assert await sender.deliver_due() == 1
    (first,) = await active_alerts(session, alertmanager, "shop-2")

    async def re_sent() -> bool:
        (alert,) = await active_alerts(session, alertmanager, "shop-2")
        return bool(alert["endsAt"] > first["endsAt"] and alert["startsAt"] == first["startsAt"])

    async with running(sender):
        await until(re_sent, "the firing alert to be re-sent with a later end")


async def test_an_unreachable_alertmanager_keeps_the_alert_and_backs_off_exponentially(
    pool: AsyncConnectionPool, session: aiohttp.ClientSession, migrated_db: str
) -> None:
    sender = sender_to(pool, session, "http://127.0.0.1:9")  # nothing listens on the discard port
    await record(pool, incidents_of("shop-3")[0])
    with pytest.raises(AlertDeliveryError):
        await sender.deliver_due()
    ((version, attempts, errored, later, wait_s),) = await outbox_rows(migrated_db)
    assert (version, attempts, errored, later) == (1, 1, True, True)
    assert 90 < wait_s <= 100  # retry_initial_s
    assert await sender.deliver_due() == 0  # not retried before its time
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        await conn.execute("UPDATE alert_outbox SET due_at = now()")
        await conn.commit()
    with pytest.raises(AlertDeliveryError):
        await sender.deliver_due()
    ((_, attempts, _, _, wait_s),) = await outbox_rows(migrated_db)
    assert attempts == 2 and 190 < wait_s <= 200  # doubled
    assert [sender.retry_in_s(n) for n in (0, 1, 2, 3, 4)] == [100, 200, 400, 800, 1000]  # capped


async def test_a_delivery_of_an_older_version_does_not_settle_a_newer_one(
    pool: AsyncConnectionPool, migrated_db: str
) -> None:
    opened, resolved = incidents_of("shop-4")
    await record(pool, opened)
    async with pool.connection() as conn, conn.transaction():
        (claimed,) = await outbox.claim(conn, 10, lease_s=30)
    await record(pool, resolved)  # resolved while the firing alert is on the wire
    async with pool.connection() as conn, conn.transaction():
        await outbox.settle_sent(conn, [claimed], resend_interval_s=60)
    ((version, _, _, later, _),) = await outbox_rows(migrated_db)
    assert version == 2 and not later  # the resolution is still due, now
    async with pool.connection() as conn, conn.transaction():
        (due,) = await outbox.claim(conn, 10, lease_s=30)
    assert due.incident.resolution == "recovered" and due.version == 2


@pytest.mark.slow
async def test_an_alert_raised_while_alertmanager_is_down_arrives_once_it_is_back(
    pool: AsyncConnectionPool, session: aiohttp.ClientSession, alertmanager: AlertmanagerProcess, migrated_db: str
) -> None:
    alertmanager.stop()
    sender = sender_to(pool, session, alertmanager.url, retry_initial_s=0.1, retry_max_s=0.5)
    await record(pool, incidents_of("shop-5")[0])

    async def failed_twice() -> bool:
        return bool((await outbox_rows(migrated_db))[0][1] >= 2)

    async def arrived() -> bool:
        return bool(await active_alerts(session, alertmanager, "shop-5"))

    async with running(sender):
        await until(failed_twice, "two failed deliveries, the alert kept")
        alertmanager.start()
        await until(arrived, "the alert to arrive once Alertmanager is back")
