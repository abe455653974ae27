"""The anomaly-detector against real Redis and Postgres: verdicts land in `anomalies` with their band,
state survives a restart, repeats are ignored and revisions correct the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from reflex_anomaly.settings import AnomalySettings
from reflex_anomaly.worker import create_worker
from reflex_common.keys import Keys
from reflex_common.schemas import ClosedWindow

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
# Two hours of a steady source at about 100 per minute: enough history for the detector's baseline.
STEADY = [100 + (i * 37) % 11 - 5 for i in range(120)]
N = len(STEADY)


def window(i: int, count: int, revision: int = 0) -> dict[str, bytes]:
    return ClosedWindow(
        source="shop", type="*", window_start=T0 + timedelta(minutes=i), window_s=60, count=count, revision=revision
    ).to_fields()


async def run_detector(redis_url: str, db: str, prefix: str, **overrides: Any) -> CollectorRegistry:
    settings = AnomalySettings(
        redis_url=redis_url,
        database_url=db,
        key_prefix=prefix,
        consumer_name="a1",
        block_ms=50,
        min_history=5,
        **overrides,
    )
    registry = CollectorRegistry()
    async with create_worker(settings, TracerProvider().get_tracer("t"), registry) as worker:
        await worker.run(burst=True)
    return registry


async def incidents(db: str) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(db) as conn:
        cur = await conn.execute(
            "SELECT kind, opened_at, anomalous_windows, resolved_at, resolution FROM incidents ORDER BY opened_at, kind"
        )
        return await cur.fetchall()


async def test_spike_and_silence_are_recorded_with_band_and_state_survives_restart(
    redis_url: str, migrated_db: str, key_prefix: str
) -> None:
    stream = Keys(key_prefix).windows_stream
    async with Redis.from_url(redis_url) as r:
        for i, count in enumerate(STEADY):
            await r.xadd(stream, window(i, count))
        await run_detector(redis_url, migrated_db, key_prefix)
        # A new process: the detector's state comes from Postgres, not memory.
        await r.xadd(stream, window(N, 400))  # spike
        await r.xadd(stream, window(N, 400))  # the same window sent twice: ignored
        await r.xadd(stream, window(N + 1, 0))  # silence
        await r.xadd(stream, window(3, 50, revision=1))  # a late correction of a window too old to judge again
        await run_detector(redis_url, migrated_db, key_prefix)

    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        rows = await (
            await conn.execute(
                "SELECT kind, window_start, observed, expected, lower_bound, upper_bound, explanation"
                " FROM anomalies ORDER BY window_start"
            )
        ).fetchall()
        (state,) = await (await conn.execute("SELECT history FROM anomaly_series")).fetchone()  # type: ignore[misc]
    assert [(k, w, o) for k, w, o, *_ in rows] == [
        ("spike", T0 + timedelta(minutes=N), 400),
        ("silence", T0 + timedelta(minutes=N + 1), 0),
    ]
    _, _, observed, expected, lower, upper, why = rows[0]
    assert 95 <= expected <= 105 and lower < expected < upper < observed
    assert "400" in why and "expected" in why
    # every window seen once (the repeat ignored); the revision of a window that old changed nothing here
    # (metric_counts has the exact count; the detector judges only its last REVISABLE_WINDOWS again)
    assert state["windows_seen"] == N + 2
    assert state["observed_sum"] == sum(STEADY) + 400 + 0


async def test_a_revision_judges_its_window_again_and_replaces_the_verdict(
    redis_url: str, migrated_db: str, key_prefix: str
) -> None:
    stream = Keys(key_prefix).windows_stream
    async with Redis.from_url(redis_url) as r:
        for i, count in enumerate([*STEADY, 400, 100]):
            await r.xadd(stream, window(i, count))
        await run_detector(redis_url, migrated_db, key_prefix)

        async def kinds() -> list[tuple[str, int]]:
            async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
                rows = await (
                    await conn.execute("SELECT kind, observed FROM anomalies ORDER BY window_start")
                ).fetchall()
            return [(k, o) for k, o in rows]

        assert await kinds() == [("spike", 400)]
        await r.xadd(stream, window(N, 101, revision=1))  # the "spike" was a miscount: retracted
        await r.xadd(stream, window(N + 1, 0, revision=1))  # and the window after it was really empty: silence
        await run_detector(redis_url, migrated_db, key_prefix)
        assert await kinds() == [("silence", 0)]
    # The spike's incident never happened; window N + 1, found silent on revision, opens one.
    assert await incidents(migrated_db) == [
        ("spike", T0 + timedelta(minutes=N), 1, T0 + timedelta(minutes=N + 2), "retracted"),
        ("silence", T0 + timedelta(minutes=N + 1), 1, None, None),
    ]


async def test_a_window_and_its_revision_in_one_batch_leave_only_the_revised_verdict(
    redis_url: str, migrated_db: str, key_prefix: str
) -> None:
    stream = Keys(key_prefix).windows_stream
    async with Redis.from_url(redis_url) as r:
        for i, count in enumerate(STEADY):
            await r.xadd(stream, window(i, count))
        await run_detector(redis_url, migrated_db, key_prefix)
        await r.xadd(stream, window(N, 400))
        await r.xadd(stream, window(N, 100, revision=1))
        await r.xadd(stream, window(N + 1, 300))
        await r.xadd(stream, window(N + 1, 310, revision=1))  # still a spike: the row says 310, not 300
        await run_detector(redis_url, migrated_db, key_prefix)
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        rows = await (await conn.execute("SELECT window_start, kind, observed FROM anomalies")).fetchall()
    assert rows == [(T0 + timedelta(minutes=N + 1), "spike", 310)]


def open_gauge(registry: CollectorRegistry) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["source"], s.labels["type"], s.labels["kind"]): s.value
        for metric in registry.collect()
        if metric.name == "reflex_anomaly_open"
        for s in metric.samples
    }


async def test_an_incident_opens_once_holds_across_a_restart_and_resolves_after_n_in_band_windows(
    redis_url: str, migrated_db: str, key_prefix: str
) -> None:
    stream = Keys(key_prefix).windows_stream
    # Alertmanager unreachable (nothing listens on port 9): delivery waits in the outbox.
    run = lambda: run_detector(  # noqa: E731
        redis_url, migrated_db, key_prefix, resolve_after_windows=2, alertmanager_url="http://127.0.0.1:9"
    )
    async with Redis.from_url(redis_url) as r:
        for i, count in enumerate([*STEADY, 0, 0]):
            await r.xadd(stream, window(i, count))
        first = await run()
        assert await incidents(migrated_db) == [("silence", T0 + timedelta(minutes=N), 2, None, None)]
        assert open_gauge(first) == {("shop", "*", "silence"): 1}

        # A new process: the open incident comes from Postgres, so a repeat does not open another.
        await r.xadd(stream, window(N + 2, 0))
        await r.xadd(stream, window(N + 3, 100))  # back in band: 1 of 2
        second = await run()
        assert await incidents(migrated_db) == [("silence", T0 + timedelta(minutes=N), 3, None, None)]
        assert open_gauge(second) == {("shop", "*", "silence"): 1}  # restored at start

        await r.xadd(stream, window(N + 4, 101))  # 2 of 2: resolved at the end of window N + 4
        third = await run()
    assert await incidents(migrated_db) == [
        ("silence", T0 + timedelta(minutes=N), 3, T0 + timedelta(minutes=N + 5), "recovered")
    ]
    assert open_gauge(third) == {}
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        outbox = await (await conn.execute("SELECT version FROM alert_outbox")).fetchall()
        (silences,) = await (  # type: ignore[misc]
            await conn.execute("SELECT count(*) FROM anomalies WHERE kind = 'silence'")
        ).fetchone()
    # Opened, then resolved: both still owed to Alertmanager, the resolution the latest version.
    assert outbox == [(2,)]
    assert silences == 3  # the per-window history is kept as before


async def test_without_alertmanager_nothing_goes_to_the_outbox(
    redis_url: str, migrated_db: str, key_prefix: str
) -> None:
    stream = Keys(key_prefix).windows_stream
    async with Redis.from_url(redis_url) as r:
        for i, count in enumerate([*STEADY, 0]):
            await r.xadd(stream, window(i, count))
        await run_detector(redis_url, migrated_db, key_prefix)
    assert [k for k, *_ in await incidents(migrated_db)] == ["silence"]
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        assert await (await conn.execute("SELECT * FROM alert_outbox")).fetchall() == []
