"""The metric-worker's batch handler: exact counts per (source, type, window), and per
(source, "*") for the source as a whole.

Exact: each event id is remembered in metric_counted in the same transaction that adds it to the
counts, so a redelivered, reclaimed or re-forwarded event never counts twice, and a crash before
the commit loses nothing (the entry is still pending and comes back)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from opentelemetry.trace import Tracer
from psycopg_pool import AsyncConnectionPool

from reflex_common.db import transient_db
from reflex_common.errors import InvalidMessage
from reflex_common.metrics_registry import observe_since_received
from reflex_common.schemas import DomainEvent
from reflex_common.schemas.window import ALL_TYPES
from reflex_common.streams import Entry, Outcome
from reflex_common.telemetry import BatchSpans
from reflex_metrics.metrics import MetricWorkerMetrics
from reflex_metrics.windowing import window_start

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS metric_stage (
    event_id uuid NOT NULL, source text NOT NULL, type text NOT NULL, window_start timestamptz NOT NULL
) ON COMMIT DELETE ROWS
"""

_COUNT = """
WITH staged AS (
    SELECT DISTINCT event_id, source, type, window_start FROM metric_stage
), fresh AS (
    INSERT INTO metric_counted (event_id)
    SELECT DISTINCT event_id FROM staged ORDER BY event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
), counted AS (
    SELECT s.source, s.type, s.window_start, count(*) AS n
    FROM staged s JOIN fresh USING (event_id)
    GROUP BY 1, 2, 3
)
INSERT INTO metric_counts (source, type, window_start, count)
SELECT source, type, window_start, n FROM counted ORDER BY 1, 2, 3
ON CONFLICT (source, type, window_start) DO UPDATE SET count = metric_counts.count + EXCLUDED.count
"""

_SERIES = """
INSERT INTO metric_series (source, type, closed_through, last_event_window)
SELECT source, type, min(window_start), max(window_start) FROM metric_stage GROUP BY 1, 2 ORDER BY 1, 2
ON CONFLICT (source, type) DO UPDATE
SET last_event_window = greatest(metric_series.last_event_window, EXCLUDED.last_event_window)
"""


async def count_events(
    conn: psycopg.AsyncConnection[tuple[object, ...]], rows: Sequence[tuple[str, str, str, object]]
) -> None:
    """Add (event_id, source, type, window_start) rows to the counts, each event id once ever."""
    await conn.execute(_STAGE)
    async with conn.cursor().copy("COPY metric_stage (event_id, source, type, window_start) FROM STDIN") as copy:
        for row in rows:
            await copy.write_row(row)
    # Series rows before count rows: the window closer locks in the same order, so the two never deadlock.
    await conn.execute(_SERIES)
    await conn.execute(_COUNT)


class CountHandler:
    def __init__(self, pool: AsyncConnectionPool, tracer: Tracer, window_s: int, metrics: MetricWorkerMetrics) -> None:
        self._pool = pool
        self._tracer = tracer
        self._window_s = window_s
        self._metrics = metrics

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        rows: list[tuple[str, str, str, object]] = []
        done: list[str] = []
        received_ms: dict[str, list[int]] = {}
        spans = BatchSpans(self._tracer, "events process")
        try:
            for entry in entries:
                try:
                    # Either layout: the compact one, or the one entries written before an upgrade have.
                    event = DomainEvent.from_fields(entry.fields)
                except InvalidMessage as exc:
                    outcome.invalid[entry.id] = str(exc)
                    continue
                spans.start(event.traceparent, {"messaging.message.id": entry.id})
                # Rates are counted by when events reached us: senders' clocks and replays vary.
                start = window_start(event.received_at, self._window_s)
                rows.append((event.event_id, event.source, event.type, start))
                rows.append((event.event_id, event.source, ALL_TYPES, start))
                done.append(entry.id)
                received_ms.setdefault(event.source, []).append(int(event.received_at.timestamp() * 1000))
            if rows:
                with transient_db():
                    async with self._pool.connection() as conn, conn.transaction():
                        await count_events(conn, rows)
        finally:
            spans.end()
        if rows:
            # Events counted now, or found counted by an earlier delivery (a redelivery is rare).
            observe_since_received(self._metrics.received_to_counted, received_ms)
        outcome.done += done
        return outcome
