"""Closes count windows and sends them to the windows stream for the anomaly-detector.

A window closes by wall clock or by event time (see windowing.close_boundary), so a silent series
still closes its windows, with 0. Windows whose count changed after they were sent (late events)
are sent again with revision + 1. The XADD happens before the commit: a crash in between sends a
window twice, never zero times, and the detector ignores repeats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg
import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from psycopg_pool import AsyncConnectionPool

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.db import transient_db
from reflex_common.errors import TransientError
from reflex_common.schemas import ClosedWindow
from reflex_common.schemas.window import ALL_TYPES
from reflex_common.streams import Outgoing, StreamPort
from reflex_common.streams.consumer import Backpressure
from reflex_common.telemetry import traceparent_of
from reflex_metrics.metrics import MetricWorkerMetrics
from reflex_metrics.windowing import close_boundary

_LOCK_ID = 0x5EF1E8  # one closer at a time across metric-worker replicas

_NEW_WINDOWS = """
WITH due AS (
    SELECT source, type, closed_through,
           least(%(boundary)s, closed_through + %(max_windows)s * %(window)s) AS until
    FROM metric_series WHERE closed_through < %(boundary)s
    ORDER BY source, type
    FOR UPDATE
), windows AS (
    SELECT d.source, d.type, w AS window_start
    FROM due d, generate_series(d.closed_through, d.until - %(window)s, %(window)s) AS w
)
SELECT w.source, w.type, w.window_start, coalesce(c.count, 0)
FROM windows w LEFT JOIN metric_counts c USING (source, type, window_start)
ORDER BY w.window_start, w.source, w.type
"""

# Windows below closed_through whose count changed after they were sent — or that were never sent:
# an event older than the first one that created its series. Both go out as revisions (at least 1),
# which the detector knows how to take for windows at or before the last it judged.
_REVISIONS = """
SELECT c.source, c.type, c.window_start, c.count, greatest(c.emitted_revision + 1, 1), coalesce(c.emitted_count, 0)
FROM metric_counts c JOIN metric_series s USING (source, type)
WHERE (c.emitted_count IS NULL OR c.count <> c.emitted_count)
  AND c.window_start < s.closed_through
ORDER BY c.window_start, c.source, c.type
FOR UPDATE OF c
"""

_MARK = """
INSERT INTO metric_counts (source, type, window_start, count, emitted_count, emitted_revision)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (source, type, window_start) DO UPDATE
SET emitted_count = EXCLUDED.emitted_count, emitted_revision = EXCLUDED.emitted_revision
"""

_ADVANCE = """
UPDATE metric_series
SET closed_through = least(%(boundary)s, closed_through + %(max_windows)s * %(window)s)
WHERE closed_through < %(boundary)s
"""


class WindowCloser:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        port: StreamPort,
        windows_stream: str,
        maxlen: int,
        *,
        window_s: int,
        lateness_s: float,
        max_windows_per_pass: int,
        tracer: Tracer,
        metrics: MetricWorkerMetrics,
        backpressure: Backpressure | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        # The windows stream's backlog: while the anomaly-detector lags past its bound the closer
        # waits (windows stay due in Postgres), so MAXLEN trimming never reaches an unread window.
        self._backpressure = backpressure
        self._tracer = tracer
        self._metrics = metrics
        self._pool = pool
        self._port = port
        self._stream = windows_stream
        self._maxlen = maxlen
        self._window = timedelta(seconds=window_s)
        self._window_s = window_s
        self._lateness_s = lateness_s
        self._max_windows = max_windows_per_pass
        self._clock = clock
        self._log = structlog.get_logger("closer")

    async def close(self, now: datetime | None = None) -> list[ClosedWindow]:
        """One pass: close what is due, revise what changed, send both. Returns what was sent."""
        now = now or self._clock()
        if self._backpressure is not None and await self._backpressure.is_full():
            self._log.warning("close_paused", reason="windows stream backlog over its bound")
            return []
        with (
            self._tracer.start_as_current_span("windows close", kind=SpanKind.PRODUCER),
            transient_db(),
        ):
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (_LOCK_ID,))
                row = await cur.fetchone()
                if not row or not row[0]:
                    return []  # another replica is closing
                return await self._close_locked(conn, now)

    async def _close_locked(
        self, conn: psycopg.AsyncConnection[tuple[object, ...]], now: datetime
    ) -> list[ClosedWindow]:
        # Lock every series row first (the counter takes series rows before count rows too).
        await conn.execute("SELECT 1 FROM metric_series ORDER BY source, type FOR UPDATE")
        cur = await conn.execute("SELECT max(last_event_window) FROM metric_series")
        row = await cur.fetchone()
        # The newest event happened at or after the start of its window: a lower bound of event time
        # that never closes a window before LATENESS_S has passed.
        newest_event = row[0] if row and isinstance(row[0], datetime) else None
        boundary = close_boundary(now, newest_event, self._window_s, self._lateness_s)
        params = {"boundary": boundary, "window": self._window, "max_windows": self._max_windows}
        closed: list[ClosedWindow] = []
        marks: list[tuple[object, ...]] = []
        late: dict[str, int] = {}  # events counted since their window was sent, per source
        cur = await conn.execute(_REVISIONS)
        for source, type_, start, count, revision, emitted in await cur.fetchall():
            closed.append(self._window_of(source, type_, start, count, revision))
            marks.append((source, type_, start, count, count, revision))
            if type_ != ALL_TYPES:  # each event is in its type's window and in "*": count it once
                late[str(source)] = late.get(str(source), 0) + int(str(count)) - int(str(emitted))
        cur = await conn.execute(_NEW_WINDOWS, params)
        for source, type_, start, count in await cur.fetchall():
            closed.append(self._window_of(source, type_, start, count, 0))
            marks.append((source, type_, start, count, count, 0))
        if not closed:
            return []
        async with conn.cursor() as c:
            await c.executemany(_MARK, marks)
        await conn.execute(_ADVANCE, params)
        # Send before the commit: if sending fails, nothing is marked and the next pass retries.
        traceparent = traceparent_of(trace.get_current_span())
        await self._port.publish([Outgoing(self._stream, w.to_fields(traceparent), self._maxlen) for w in closed])
        revisions = sum(1 for w in closed if w.revision)
        self._metrics.windows_closed.inc(len(closed) - revisions)
        self._metrics.window_revisions.inc(revisions)
        for source, n in late.items():
            self._metrics.late_events.labels(source).inc(n)
        self._log.info(
            "windows_closed",
            count=len(closed),
            boundary=boundary.isoformat(),
            revisions=revisions,
        )
        return closed

    def _window_of(self, source: object, type_: object, start: object, count: object, revision: object) -> ClosedWindow:
        assert isinstance(start, datetime)
        return ClosedWindow(
            source=str(source),
            type=str(type_),
            window_start=start,
            window_s=self._window_s,
            count=int(str(count)),
            revision=int(str(revision)),
        )

    async def forget_counted(self, older_than_s: int, limit: int = 10_000) -> int:
        """Delete up to `limit` remembered event ids counted more than older_than_s ago."""
        with transient_db():
            async with self._pool.connection() as conn, conn.transaction():
                cur = await conn.execute(
                    "DELETE FROM metric_counted WHERE event_id IN (SELECT event_id FROM metric_counted"
                    " WHERE counted_at < now() - make_interval(secs => %s) ORDER BY counted_at LIMIT %s)",
                    (older_than_s, limit),
                )
                return cur.rowcount

    async def run(self, interval_s: float, counted_retention_s: int) -> None:
        """Close windows (and forget old counted ids) every interval_s, forever: a side task."""
        while True:
            raise_dropped_cancellation()
            try:
                await self.close()
                await self.forget_counted(counted_retention_s)
            except TransientError as exc:
                self._log.warning("close_failed", error=str(exc))
            except Exception:
                # Not an outage: log it loudly and try again next pass rather than stop closing
                # windows for good (a dead side task would silence anomaly detection).
                self._log.exception("close_crashed")
            await asyncio.sleep(interval_s)
