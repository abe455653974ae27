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
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import structlog
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, Gauge
from psycopg_pool import AsyncConnectionPool

from reflex_anomaly import incident_store
from reflex_anomaly.detector import DetectorConfig, Judgement, SeriesDetector, Verdict
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
    """One series' detector, persisted as the detector's state some windows back (`base`) plus the
    windows since (`recent`, [window start epoch s, window s, count]): the current detector is the
    base with the recent windows replayed, so a revision of a recent window re-judges it and the
    windows after it exactly as if the right count had come first. A revision older than
    `revisable_windows` is not judged again (its count is still exact in metric_counts)."""

    def __init__(self, config: DetectorConfig, stored: dict[str, Any] | None, revisable_windows: int) -> None:
        stored = stored if isinstance(stored, dict) else {}
        self._config = config
        self._keep = revisable_windows
        self.base_state: dict[str, Any] | None = stored.get("base")
        self.recent: list[list[int]] = [list(w) for w in stored.get("recent", [])]
        self.windows_seen: int = stored.get("windows_seen", 0)
        self.observed_sum: int = stored.get("observed_sum", 0)
        self.current = self._replay(judge_from=None)[0]

    def _replay(self, judge_from: int | None) -> tuple[SeriesDetector, list[tuple[int, Judgement]]]:
        detector = SeriesDetector(self._config, self.base_state)
        judged = []
        for i, (at, window_s, count) in enumerate(self.recent):
            judgement = detector.observe(at, window_s, count)
            if judge_from is not None and i >= judge_from:
                judged.append((at, judgement))
        return detector, judged

    def observe(self, window: ClosedWindow) -> Judgement:
        at = int(window.window_start.timestamp())
        judgement = self.current.observe(at, window.window_s, window.count)
        self.recent.append([at, window.window_s, window.count])
        self.windows_seen += 1
        self.observed_sum += window.count
        return judgement

    def revise(self, window: ClosedWindow) -> list[tuple[int, Judgement]] | None:
        """Correct a recent window's count after late events; the windows judged again (it and those
        after it, by window start epoch s), or None when it is too old to judge again."""
        at = int(window.window_start.timestamp())
        for i, entry in enumerate(self.recent):
            if entry[0] == at:
                self.observed_sum += window.count - entry[2]
                entry[2] = window.count
                self.current, judged = self._replay(judge_from=i)
                return judged
        return None

    def stored(self) -> dict[str, Any]:
        """The state to persist: recent windows past the revisable ones are folded into the base."""
        if len(self.recent) > self._keep:
            base = SeriesDetector(self._config, self.base_state)
            while len(self.recent) > self._keep:
                at, window_s, count = self.recent.pop(0)
                base.observe(at, window_s, count)
            self.base_state = base.state()
        return {
            "base": self.base_state,
            "recent": self.recent,
            "windows_seen": self.windows_seen,
            "observed_sum": self.observed_sum,
        }

    @property
    def last_window_start(self) -> datetime | None:
        if not self.recent:
            return None
        return datetime.fromtimestamp(self.recent[-1][0], UTC)


class AnomalyHandler:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        config: DetectorConfig,
        revisable_windows: int,
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
        self._keep = revisable_windows
        self._metrics = metrics
        self._resolve_after = resolve_after_windows
        # With delivery to Alertmanager on: openings and resolutions go to the outbox, and the
        # sender is woken once they are committed.
        self._outbox = outbox
        self._on_enqueued = on_enqueued
        self._log = structlog.get_logger("anomaly")

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
            (source, type_): SeriesState(self._config, stored, self._keep)
            for source, type_, _, stored in await cur.fetchall()
        }
        book = IncidentBook(self._resolve_after, await incident_store.load_open(conn, keys))
        was_open = {incident_store.identity(i) for i in book.open_incidents()}
        transitions: list[Transition] = []
        # The verdict of each window judged in this batch, by window: a revision later in the batch
        # replaces the one before it (and those of the windows after it, judged again). New verdicts
        # (not revisions) are what the metric counts.
        judged: dict[tuple[str, str, datetime], Verdict | None] = {}
        window_s: dict[tuple[str, str, datetime], int] = {}
        revised: set[tuple[str, str, datetime]] = set()
        first_verdicts: list[Verdict] = []
        for key in keys:
            state = states.setdefault(key, SeriesState(self._config, None, self._keep))
            source, type_ = key
            for window in sorted(by_series[key], key=lambda w: (w.window_start, w.revision)):
                last = state.last_window_start
                if last is not None and window.window_start <= last:
                    again = state.revise(window) if window.revision else None
                    if again is None:
                        continue  # a repeat, or a revision too old to judge again
                    # Late events changed the count: the window (and those after it) are judged again,
                    # and the incidents hear of each new judgement.
                    for at_s, judgement in again:
                        start = datetime.fromtimestamp(at_s, UTC)
                        at = (source, type_, start)
                        revised.add(at)
                        judged[at] = judgement.verdict
                        window_s[at] = window.window_s
                        transitions += book.revise(
                            key, start, window.window_s, judgement.verdict, latest_window_start=last
                        )
                else:
                    verdict = state.observe(window).verdict
                    at = (source, type_, window.window_start)
                    judged[at] = verdict
                    window_s[at] = window.window_s
                    if verdict is not None:
                        first_verdicts.append(verdict)
                    transitions += book.observe(key, window.window_start, window.window_s, verdict)
        anomaly_rows = []
        for at, verdict in judged.items():
            if verdict is not None:
                b = verdict.band
                anomaly_rows.append(
                    (
                        *at,
                        window_s[at],
                        verdict.kind,
                        int(verdict.observed),
                        b.expected,
                        b.lower,
                        b.upper,
                        verdict.explanation,
                    )
                )
        async with conn.cursor() as c:
            await c.executemany(
                _SAVE,
                [
                    (s, t, st.last_window_start, orjson.dumps(st.stored()).decode())
                    for (s, t), st in states.items()
                    if st.last_window_start is not None
                ],
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
