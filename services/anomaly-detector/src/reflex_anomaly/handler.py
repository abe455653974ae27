"""The anomaly-detector's batch handler: per-series state in Postgres, verdicts into `anomalies`.

Each window is judged once: a window at or before the series' last one is a repeat (the
metric-worker may send a window twice) unless it is a revision — late events changed its count —
which corrects the stored history and judges that window again against the windows before it,
replacing its earlier verdict. State and anomalies are written in one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import psycopg
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter
from psycopg_pool import AsyncConnectionPool

from reflex_anomaly.detector import DetectorConfig, Verdict, evaluate
from reflex_common.db import transient_db
from reflex_common.errors import InvalidMessage
from reflex_common.schemas import ClosedWindow
from reflex_common.streams import Entry, Outcome
from reflex_common.telemetry import consumer_span

_LOAD = """
SELECT source, type, last_window_start, history FROM anomaly_series
WHERE (source, type) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY source, type
FOR UPDATE
"""

_SAVE = """
INSERT INTO anomaly_series (source, type, last_window_start, history, updated_at)
VALUES (%s, %s, %s, %s, now())
ON CONFLICT (source, type) DO UPDATE
SET last_window_start = EXCLUDED.last_window_start, history = EXCLUDED.history, updated_at = now()
"""

_RETRACT = "DELETE FROM anomalies WHERE source = %s AND type = %s AND window_start = %s"

_ANOMALY = """
INSERT INTO anomalies (source, type, window_start, window_s, kind, observed, expected, lower_bound, upper_bound,
                       explanation)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source, type, window_start, kind) DO NOTHING
"""


class AnomalyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.anomalies = Counter("reflex_anomalies_total", "Anomalies flagged, by kind.", ["kind"], registry=registry)


class SeriesState:
    """History of one series: [window start epoch seconds, count] pairs, oldest first."""

    def __init__(self, last: datetime | None, history: list[list[int]], keep: int) -> None:
        self.last = last
        self.history = history
        self._keep = keep

    def counts(self) -> list[int]:
        return [count for _, count in self.history]

    def append(self, window: ClosedWindow) -> None:
        self.history.append([int(window.window_start.timestamp()), window.count])
        del self.history[: -self._keep]
        self.last = window.window_start

    def revise(self, window: ClosedWindow) -> list[int] | None:
        """Correct a window's count after late events. Returns the counts before it, to judge it
        again, or None when it has left the history (too old to judge fairly now)."""
        at = int(window.window_start.timestamp())
        for i, pair in enumerate(self.history):
            if pair[0] == at:
                pair[1] = window.count
                return [count for _, count in self.history[:i]]
        return None


class AnomalyHandler:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        config: DetectorConfig,
        history_windows: int,
        metrics: AnomalyMetrics,
        tracer: Tracer,
    ) -> None:
        self._tracer = tracer
        self._pool = pool
        self._config = config
        self._keep = history_windows
        self._metrics = metrics

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        by_series: dict[tuple[str, str], list[ClosedWindow]] = defaultdict(list)
        for entry in entries:
            with consumer_span(self._tracer, "windows process", entry.fields, {"messaging.message.id": entry.id}):
                try:
                    window = ClosedWindow.from_fields(entry.fields)
                except InvalidMessage as exc:
                    outcome.invalid[entry.id] = str(exc)
                    continue
            by_series[(window.source, window.type)].append(window)
            outcome.done.append(entry.id)
        if by_series:
            with transient_db():
                async with self._pool.connection() as conn, conn.transaction():
                    verdicts = await self._apply(conn, by_series)
            for verdict in verdicts:
                self._metrics.anomalies.labels(verdict.kind).inc()
        return outcome

    async def _apply(
        self, conn: psycopg.AsyncConnection[Any], by_series: dict[tuple[str, str], list[ClosedWindow]]
    ) -> list[Verdict]:
        keys = sorted(by_series)
        cur = await conn.execute(_LOAD, ([s for s, _ in keys], [t for _, t in keys]))
        states = {
            (source, type_): SeriesState(last, history, self._keep)
            for source, type_, last, history in await cur.fetchall()
        }
        # The verdict of each window judged in this batch, by window: a revision later in the batch
        # replaces the one before it. New verdicts (not revisions) are what the metric counts.
        judged: dict[tuple[str, str, datetime], Verdict | None] = {}
        windows: dict[tuple[str, str, datetime], ClosedWindow] = {}
        revised: set[tuple[str, str, datetime]] = set()
        first_verdicts: list[Verdict] = []
        for key in keys:
            state = states.setdefault(key, SeriesState(None, [], self._keep))
            for window in sorted(by_series[key], key=lambda w: (w.window_start, w.revision)):
                at = (window.source, window.type, window.window_start)
                if state.last is not None and window.window_start <= state.last:
                    prior = state.revise(window) if window.revision else None
                    if prior is None:
                        continue  # a repeat, or a revision too old to judge again
                    # Late events changed the count: the window is judged again, the old verdict goes.
                    revised.add(at)
                    judged[at] = evaluate(prior, window.count, self._config, window.window_s)
                else:
                    verdict = evaluate(state.counts(), window.count, self._config, window.window_s)
                    state.append(window)
                    judged[at] = verdict
                    if verdict is not None:
                        first_verdicts.append(verdict)
                windows[at] = window
        anomaly_rows = []
        for at, verdict in judged.items():
            if verdict is not None:
                w, b = windows[at], verdict.band
                anomaly_rows.append(
                    (
                        w.source,
                        w.type,
                        w.window_start,
                        w.window_s,
                        verdict.kind,
                        verdict.observed,
                        b.expected,
                        b.lower,
                        b.upper,
                        verdict.explanation,
                    )
                )
        async with conn.cursor() as c:
            await c.executemany(
                _SAVE,
                [(s, t, st.last, orjson.dumps(st.history).decode()) for (s, t), st in states.items() if st.last],
            )
            if revised:
                await c.executemany(_RETRACT, sorted(revised))
            if anomaly_rows:
                await c.executemany(_ANOMALY, anomaly_rows)
        return first_verdicts
