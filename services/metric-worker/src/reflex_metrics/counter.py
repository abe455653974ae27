"""The metric-worker's batch handler: exact counts per (source, type, window), and per
(source, "*") for the source as a whole.

Exact: each event id is remembered in metric_counted in the same transaction that adds it to the
counts, so a redelivered, reclaimed or re-forwarded event never counts twice, and a crash before
the commit loses nothing (the entry is still pending and comes back).

Set-based: a batch is two statements whatever its size. The events go over as two arrays (ids, and
the index of their pair of windows, see tally.py), the pairs, windows and series as a few short
arrays; Postgres remembers the ids, counts the fresh ones per window and upserts a row per window."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from opentelemetry.trace import Tracer
from psycopg_pool import AsyncConnectionPool

from reflex_common.db import transient_db
from reflex_common.errors import InvalidMessage
from reflex_common.metrics_registry import observe_since_received
from reflex_common.schemas import DomainEvent
from reflex_common.streams import Entry, Outcome
from reflex_common.telemetry import BatchSpans
from reflex_metrics.metrics import MetricWorkerMetrics
from reflex_metrics.tally import Tally

_UUID_TEXT_CHARS = 36  # the canonical text form: a comma (the arrays' separator) can never hide in one

_SERIES = """
INSERT INTO metric_series (source, type, closed_through, last_event_window)
SELECT source, type, to_timestamp(first_s), to_timestamp(last_s)
FROM unnest(%(sources)s::text[], %(types)s::text[], %(firsts)s::bigint[], %(lasts)s::bigint[])
    AS s(source, type, first_s, last_s)
ORDER BY 1, 2
ON CONFLICT (source, type) DO UPDATE
SET last_event_window = greatest(metric_series.last_event_window, EXCLUDED.last_event_window)
"""

_COUNT = """
WITH batch AS (
    -- An event forwarded twice into one batch is one event.
    SELECT DISTINCT ON (event_id) event_id, pair
    FROM unnest(string_to_array(%(ids)s, ',')::uuid[], string_to_array(%(pairs)s, ',')::int[]) AS b(event_id, pair)
    ORDER BY event_id
), fresh AS (
    INSERT INTO metric_counted (event_id)
    SELECT event_id FROM batch ORDER BY event_id
    ON CONFLICT DO NOTHING
    RETURNING event_id
), per_pair AS (
    SELECT pair, count(*) AS n FROM batch JOIN fresh USING (event_id) GROUP BY pair
), tallied AS (
    SELECT w AS ordinal, sum(n) AS n
    FROM per_pair
    JOIN unnest(%(type_windows)s::int[], %(all_windows)s::int[]) WITH ORDINALITY AS p(type_window, all_window, pair)
        USING (pair),
    LATERAL (VALUES (p.type_window), (p.all_window)) AS v(w)
    GROUP BY 1
)
INSERT INTO metric_counts (source, type, window_start, count)
SELECT w.source, w.type, to_timestamp(w.start_s), t.n
FROM tallied t
JOIN unnest(%(sources)s::text[], %(types)s::text[], %(starts)s::bigint[]) WITH ORDINALITY
    AS w(source, type, start_s, ordinal) USING (ordinal)
ORDER BY 1, 2, 3
ON CONFLICT (source, type, window_start) DO UPDATE SET count = metric_counts.count + EXCLUDED.count
"""


async def count_events(conn: psycopg.AsyncConnection[tuple[object, ...]], tally: Tally) -> None:
    """Add the batch's events to the counts, each event id once ever."""
    sources, types, firsts, lasts = zip(*tally.series(), strict=True)
    # Series rows before count rows: the window closer locks in the same order, so the two never deadlock.
    await conn.execute(
        _SERIES, {"sources": list(sources), "types": list(types), "firsts": list(firsts), "lasts": list(lasts)}
    )
    type_windows, all_windows = zip(*tally.pairs, strict=True)
    sources, types, starts = zip(*tally.windows, strict=True)
    await conn.execute(
        _COUNT,
        {
            "ids": ",".join(tally.event_ids),
            "pairs": ",".join(map(str, tally.event_pairs)),
            "type_windows": list(type_windows),
            "all_windows": list(all_windows),
            "sources": list(sources),
            "types": list(types),
            "starts": list(starts),
        },
    )


class CountHandler:
    def __init__(self, pool: AsyncConnectionPool, tracer: Tracer, window_s: int, metrics: MetricWorkerMetrics) -> None:
        self._pool = pool
        self._tracer = tracer
        self._window_s = window_s
        self._metrics = metrics

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        tally = Tally(self._window_s)
        done: list[str] = []
        received_ms: dict[str, list[int]] = {}
        spans = BatchSpans(self._tracer, "events process")
        try:
            for entry in entries:
                try:
                    # Either layout: the compact one, or the one entries written before an upgrade have.
                    event = DomainEvent.from_fields(entry.fields)
                    if len(event.event_id) != _UUID_TEXT_CHARS:
                        raise InvalidMessage(f"event_id {event.event_id[:80]!r} is not a UUID")
                except InvalidMessage as exc:
                    outcome.invalid[entry.id] = str(exc)
                    continue
                spans.start(event.traceparent, {"messaging.message.id": entry.id})
                # Rates are counted by when events reached us: senders' clocks and replays vary.
                received_s = event.received_at.timestamp()
                tally.add(event.event_id, event.source, event.type, received_s)
                done.append(entry.id)
                received_ms.setdefault(event.source, []).append(int(received_s * 1000))
            if tally:
                with transient_db():
                    async with self._pool.connection() as conn, conn.transaction():
                        await count_events(conn, tally)
        finally:
            spans.end()
        if tally:
            # Events counted now, or found counted by an earlier delivery (a redelivery is rare).
            observe_since_received(self._metrics.received_to_counted, received_ms)
        outcome.done += done
        return outcome
