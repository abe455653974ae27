"""The anomaly-detector's batch handler: per-series state in Postgres, verdicts into `anomalies`,
incidents into `incidents` (and the alert outbox).

Each window is judged once: a window at or before the series' last one is a repeat (the
metric-worker may send a window twice) unless it is a revision — late events changed its count —
which corrects the stored history and judges that window again against the windows before it,
replacing its earlier verdict. Every judged window then goes through the incident lifecycle
(`incidents.IncidentBook`). State, anomalies, incidents and outbox rows are written in one
transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg
import structlog
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, Gauge
from psycopg_pool import AsyncConnectionPool

from reflex_anomaly import incident_store
from reflex_anomaly.detector import DetectorConfig, Verdict, evaluate
from reflex_anomaly.incidents import DEFAULT_RESOLVE_AFTER_WINDOWS, IncidentBook, IncidentKey, Transition
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
        self.open = Gauge(
            "reflex_anomaly_open",
            "1 while an incident of this kind is open for the series (a Prometheus rule can page on it).",
            ["source", "type", "kind"],
            registry=registry,
        )

    def restore_open(self, keys: Sequence[IncidentKey]) -> None:
        """The gauge as the incidents table says, at start."""
        self.open.clear()
        for key in keys:
            self.open.labels(*key).set(1)

    def opened(self, key: IncidentKey) -> None:
        self.open.labels(*key).set(1)

    def resolved(self, key: IncidentKey) -> None:
        self.open.remove(*key)  # (a label set not shown is no error)


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
        *,
        resolve_after_windows: int = DEFAULT_RESOLVE_AFTER_WINDOWS,
        outbox: bool = False,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self._tracer = tracer
        self._pool = pool
        self._config = config
        self._keep = history_windows
        self._metrics = metrics
        self._resolve_after = resolve_after_windows
        # With delivery to Alertmanager on: openings and resolutions go to the outbox, and the
        # sender is woken once they are committed.
        self._outbox = outbox
        self._on_enqueued = on_enqueued
        self._log = structlog.get_logger("anomaly")

    def _judge(self, history: Sequence[int], window: ClosedWindow) -> Verdict | None:
        """The detector's judgement of one window against the counts before it: its only call."""
        return evaluate(history, window.count, self._config, window.window_s)

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
                    verdicts, changes = await self._apply(conn, by_series)
            for verdict in verdicts:
                self._metrics.anomalies.labels(verdict.kind).inc()
            for key in changes.resolved:
                self._metrics.resolved(key)
                self._log.info("incident_resolved", source=key[0], type=key[1], kind=key[2])
            for key in changes.opened:
                self._metrics.opened(key)
                self._log.info("incident_opened", source=key[0], type=key[1], kind=key[2])
            if changes.enqueued:
                self._on_enqueued()
        return outcome

    async def _apply(
        self, conn: psycopg.AsyncConnection[Any], by_series: dict[tuple[str, str], list[ClosedWindow]]
    ) -> tuple[list[Verdict], IncidentChanges]:
        keys = sorted(by_series)
        cur = await conn.execute(_LOAD, ([s for s, _ in keys], [t for _, t in keys]))
        states = {
            (source, type_): SeriesState(last, history, self._keep)
            for source, type_, last, history in await cur.fetchall()
        }
        book = IncidentBook(self._resolve_after, await incident_store.load_open(conn, keys))
        was_open = {incident_store.identity(i) for i in book.open_incidents()}
        transitions: list[Transition] = []
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
                    verdict = self._judge(prior, window)
                    transitions += book.revise(
                        key, window.window_start, window.window_s, verdict, latest_window_start=state.last
                    )
                else:
                    verdict = self._judge(state.counts(), window)
                    state.append(window)
                    if verdict is not None:
                        first_verdicts.append(verdict)
                    transitions += book.observe(key, window.window_start, window.window_s, verdict)
                judged[at] = verdict
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
        changes = await self._save_incidents(conn, book, transitions, was_open)
        return first_verdicts, changes

    async def _save_incidents(
        self,
        conn: psycopg.AsyncConnection[Any],
        book: IncidentBook,
        transitions: list[Transition],
        was_open: set[incident_store.Identity],
    ) -> IncidentChanges:
        resolved = {incident_store.identity(t.incident): t.incident for t in transitions if t.kind == "resolved"}
        still_open = {incident_store.identity(i): i for i in book.open_incidents()}
        ids = await incident_store.save(conn, [*resolved.values(), *still_open.values()])
        # Only what was committed open before and is resolved now, or is open now and was not
        # before, changes what on-call sees: an incident opened and retracted within one batch
        # never pages, and a held one is re-sent on the sender's schedule anyway.
        changes = IncidentChanges(
            opened=[i.key for ident, i in still_open.items() if ident not in was_open],
            resolved=[i.key for ident, i in resolved.items() if ident in was_open],
        )
        if self._outbox:
            due = [ids[ident] for ident in still_open if ident not in was_open]
            due += [ids[ident] for ident in resolved if ident in was_open]
            await incident_store.enqueue(conn, due)
            changes.enqueued = len(due)
        return changes


@dataclass
class IncidentChanges:
    """What a batch changed that the gauge and the alert sender must hear of, after the commit."""

    opened: list[IncidentKey] = field(default_factory=list)
    resolved: list[IncidentKey] = field(default_factory=list)
    enqueued: int = 0
