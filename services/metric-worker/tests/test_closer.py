"""The window closer against real Postgres and Redis: zero windows for silent series, revisions for
late events, and exactly-once counting of repeated events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from reflex_common.db import open_pool
from reflex_common.keys import Keys
from reflex_common.schemas import ClosedWindow
from reflex_common.streams.redis_stream import open_redis_streams
from reflex_metrics.closer import WindowCloser
from reflex_metrics.counter import count_events
from reflex_metrics.metrics import MetricWorkerMetrics
from reflex_metrics.tally import Tally

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
async def closer(redis_url: str, migrated_db: str, key_prefix: str) -> AsyncIterator[WindowCloser]:
    async with open_redis_streams(redis_url, 50) as (port, _), open_pool(migrated_db, 2) as pool:
        yield WindowCloser(
            pool,
            port,
            Keys(key_prefix).windows_stream,
            10_000,
            window_s=60,
            lateness_s=5,
            max_windows_per_pass=100,
            tracer=TracerProvider().get_tracer("t"),
            metrics=MetricWorkerMetrics(CollectorRegistry()),
        )


async def add(db: str, events: list[tuple[str, str, str, datetime]]) -> None:
    """Count (event_id, source, type, received_at) events as the count handler does: each in its
    type's window and in its source's "*"."""
    tally = Tally(60)
    for event_id, source, type_, received_at in events:
        tally.add(event_id, source, type_, received_at.timestamp())
    async with await psycopg.AsyncConnection.connect(db) as conn, conn.transaction():
        await count_events(conn, tally)


def eid(n: int) -> str:
    return f"00000000-0000-7000-8000-{n:012d}"


def summary(windows: list[ClosedWindow]) -> list[tuple[str, datetime, int, int]]:
    return [(w.type, w.window_start, w.count, w.revision) for w in windows]


async def test_windows_close_with_zeros_for_silence_and_revise_for_late_events(
    closer: WindowCloser, migrated_db: str
) -> None:
    await add(migrated_db, [(eid(1), "s", "push", T0), (eid(2), "s", "push", T0), (eid(1), "s", "push", T0)])
    # Not yet: the window [12:00, 12:01) ends at 12:01, plus 5 s lateness.
    assert await closer.close(T0 + MIN + timedelta(seconds=4)) == []
    first = await closer.close(T0 + 3 * MIN + timedelta(seconds=5))
    # A repeated event counts once, in its type's window and in the source's "*".
    assert summary(first) == [
        ("*", T0, 2, 0),
        ("push", T0, 2, 0),
        ("*", T0 + MIN, 0, 0),
        ("push", T0 + MIN, 0, 0),
        ("*", T0 + 2 * MIN, 0, 0),
        ("push", T0 + 2 * MIN, 0, 0),
    ]
    assert await closer.close(T0 + 3 * MIN + timedelta(seconds=30)) == []
    # A late event for a closed window, and a repeat of an event already counted.
    await add(migrated_db, [(eid(3), "s", "push", T0 + MIN), (eid(2), "s", "push", T0)])
    revised = await closer.close(T0 + 3 * MIN + timedelta(seconds=40))
    assert summary(revised) == [("*", T0 + MIN, 1, 1), ("push", T0 + MIN, 1, 1)]


async def test_the_closer_counts_windows_closed_revisions_and_late_events(migrated_db: str, redis_url: str) -> None:
    registry = CollectorRegistry()
    async with open_redis_streams(redis_url, 50) as (port, _), open_pool(migrated_db, 2) as pool:
        closer = WindowCloser(
            pool,
            port,
            Keys("closer-metrics").windows_stream,
            10_000,
            window_s=60,
            lateness_s=5,
            max_windows_per_pass=100,
            tracer=TracerProvider().get_tracer("t"),
            metrics=MetricWorkerMetrics(registry),
        )
        # Each event counts in its type's window and in "*".
        await add(migrated_db, [(eid(1), "s", "push", T0)])
        assert len(await closer.close(T0 + 3 * MIN + timedelta(seconds=5))) == 6
        late = [(eid(n), "s", "push", T0 + MIN) for n in (2, 3)]
        await add(migrated_db, late)
        assert summary(await closer.close(T0 + 3 * MIN + timedelta(seconds=30))) == [
            ("*", T0 + MIN, 2, 1),
            ("push", T0 + MIN, 2, 1),
        ]
    value = registry.get_sample_value
    assert value("reflex_metric_worker_windows_closed_total") == 6
    assert value("reflex_metric_worker_window_revisions_total") == 2
    assert value("reflex_metric_worker_late_events_total", {"source": "s"}) == 2


async def test_only_one_closer_works_at_a_time(closer: WindowCloser, migrated_db: str) -> None:
    await add(migrated_db, [(eid(1), "s", "push", T0)])
    async with await psycopg.AsyncConnection.connect(migrated_db) as other, other.transaction():
        await other.execute("SELECT pg_advisory_xact_lock(%s)", (0x5EF1E8,))
        assert await closer.close(T0 + 5 * MIN) == []
    assert len(await closer.close(T0 + 5 * MIN)) == 8  # 4 windows of "push", 4 of "*"


async def test_counted_ids_are_forgotten_only_past_the_retention(closer: WindowCloser, migrated_db: str) -> None:
    await add(migrated_db, [(eid(1), "s", "push", T0), (eid(2), "s", "push", T0)])
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        await conn.execute(
            "UPDATE metric_counted SET counted_at = now() - interval '8 days' WHERE event_id = %s", (eid(1),)
        )
        await conn.commit()
    assert await closer.forget_counted(7 * 86_400) == 1
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        left = await (await conn.execute("SELECT event_id::text FROM metric_counted")).fetchall()
    assert left == [(eid(2),)]


async def test_an_event_older_than_its_new_series_still_reaches_the_detector(
    closer: WindowCloser, migrated_db: str
) -> None:
    # Two batches of a brand-new series arrive out of order (concurrent batches, reclaims, replicas).
    await add(migrated_db, [(eid(1), "s", "push", T0 + 5 * MIN)])
    await add(migrated_db, [(eid(2), "s", "push", T0 + 4 * MIN)])
    sent: list[ClosedWindow] = []
    for k in range(3):
        sent += await closer.close(T0 + (8 + k) * MIN)
    assert ("push", T0 + 4 * MIN, 1, 1) in summary(sent)


async def test_event_time_never_closes_a_window_before_the_lateness_has_passed(
    closer: WindowCloser, migrated_db: str
) -> None:
    await add(migrated_db, [(eid(1), "s", "push", T0), (eid(2), "s", "push", T0 + MIN)])
    # Wall clock 12:01:03 with 5 s lateness: [12:00, 12:01) may not close yet, whatever event time says.
    assert await closer.close(T0 + MIN + timedelta(seconds=3)) == []
    assert summary(await closer.close(T0 + MIN + timedelta(seconds=5))) == [("*", T0, 1, 0), ("push", T0, 1, 0)]


async def test_the_closer_pauses_while_the_windows_stream_backlog_is_over_its_bound(
    redis_url: str, migrated_db: str, key_prefix: str
) -> None:
    from redis.asyncio import Redis

    from reflex_common.keys import ANOMALY_GROUP
    from reflex_common.streams.backlog import BacklogMonitor

    stream = Keys(key_prefix).windows_stream
    async with open_redis_streams(redis_url, 50) as (port, _), open_pool(migrated_db, 2) as pool:
        backlog = BacklogMonitor(port, stream, max_entries=3, refresh_s=0.0, groups=(ANOMALY_GROUP,))
        closer = WindowCloser(
            pool,
            port,
            stream,
            10_000,
            window_s=60,
            lateness_s=5,
            max_windows_per_pass=100,
            tracer=TracerProvider().get_tracer("t"),
            metrics=MetricWorkerMetrics(CollectorRegistry()),
            backpressure=backlog,
        )
        await add(migrated_db, [(eid(1), "s", "push", T0)])
        first = await closer.close(T0 + 3 * MIN + timedelta(seconds=5))  # 3 windows each of 2 series: past the bound
        assert len(first) == 6
        await add(migrated_db, [(eid(2), "s", "push", T0 + 3 * MIN)])
        assert await closer.close(T0 + 6 * MIN) == []  # paused: the detector has not read them
        async with Redis.from_url(redis_url) as r:
            assert await r.xlen(stream) == 6
            await r.xreadgroup(ANOMALY_GROUP, "d", {stream: ">"})
            await r.xack(stream, ANOMALY_GROUP, *[e for e, _ in (await r.xrange(stream))])
        assert len(await closer.close(T0 + 6 * MIN)) == 4  # read and acked: closing resumes
