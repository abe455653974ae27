"""Incidents in Postgres (`incidents`, `alert_outbox`), inside the caller's transaction.

The handler loads the open incidents of the series in its batch under row locks, lets an
IncidentBook change them, and saves them back with the series state in the same transaction; the
outbox rows that tell Alertmanager about an opening or a resolution are written there too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import psycopg

from reflex_anomaly.incidents import Incident, IncidentKey, SeriesKey

# An incident's identity: its key and the window that opened it.
Identity = tuple[str, str, str, datetime]

COLUMNS = (
    "source, type, kind, window_s, opened_at, last_anomalous_at, last_window_at, anomalous_windows,"
    " in_band_windows, observed, expected, lower_bound, upper_bound, explanation, resolved_at, resolution"
)

_LOAD_OPEN = f"""
SELECT {COLUMNS} FROM incidents
WHERE resolved_at IS NULL AND (source, type) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
ORDER BY source, type, kind
FOR UPDATE
"""

_SAVE = f"""
INSERT INTO incidents ({COLUMNS})
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source, type, kind, opened_at) DO UPDATE
SET window_s = EXCLUDED.window_s, last_anomalous_at = EXCLUDED.last_anomalous_at,
    last_window_at = EXCLUDED.last_window_at, anomalous_windows = EXCLUDED.anomalous_windows,
    in_band_windows = EXCLUDED.in_band_windows, observed = EXCLUDED.observed, expected = EXCLUDED.expected,
    lower_bound = EXCLUDED.lower_bound, upper_bound = EXCLUDED.upper_bound, explanation = EXCLUDED.explanation,
    resolved_at = EXCLUDED.resolved_at, resolution = EXCLUDED.resolution, updated_at = now()
RETURNING id
"""

# Due now, whatever was due before; a delivery in flight of an older version will not settle it.
_ENQUEUE = """
INSERT INTO alert_outbox (incident_id) SELECT unnest(%s::bigint[])
ON CONFLICT (incident_id) DO UPDATE
SET version = alert_outbox.version + 1, due_at = now(), attempts = 0, last_error = NULL
"""

# Open incidents the outbox does not know of (alerting was off when they opened).
_ENQUEUE_UNSENT = """
INSERT INTO alert_outbox (incident_id)
SELECT id FROM incidents WHERE resolved_at IS NULL
ON CONFLICT (incident_id) DO NOTHING
"""


def identity(incident: Incident) -> Identity:
    return (incident.source, incident.type, incident.kind, incident.opened_at)


def incident_of(row: Sequence[Any]) -> Incident:
    (source, type_, kind, window_s, opened, last_anomalous, last_window, anomalous, in_band) = row[:9]
    observed, expected, lower, upper, explanation, resolved_at, resolution = row[9:]
    return Incident(
        source=source,
        type=type_,
        kind=kind,
        window_s=window_s,
        opened_at=opened,
        last_anomalous_at=last_anomalous,
        last_window_at=last_window,
        anomalous_windows=anomalous,
        in_band_windows=in_band,
        observed=observed,
        expected=expected,
        lower=lower,
        upper=upper,
        explanation=explanation,
        resolved_at=resolved_at,
        resolution=resolution,
    )


async def load_open(conn: psycopg.AsyncConnection[Any], series: Sequence[SeriesKey]) -> list[Incident]:
    """The open incidents of `series`, locked until the transaction ends."""
    cur = await conn.execute(_LOAD_OPEN, ([s for s, _ in series], [t for _, t in series]))
    return [incident_of(row) for row in await cur.fetchall()]


async def save(conn: psycopg.AsyncConnection[Any], incidents: Iterable[Incident]) -> dict[Identity, int]:
    """Insert or update each incident; returns their ids. Resolved ones are written first, so a key
    resolved and opened again in one batch never has two open rows, even for a moment."""
    ids: dict[Identity, int] = {}
    for incident in sorted(incidents, key=lambda i: i.is_open):
        cur = await conn.execute(
            _SAVE,
            (
                incident.source,
                incident.type,
                incident.kind,
                incident.window_s,
                incident.opened_at,
                incident.last_anomalous_at,
                incident.last_window_at,
                incident.anomalous_windows,
                incident.in_band_windows,
                incident.observed,
                incident.expected,
                incident.lower,
                incident.upper,
                incident.explanation,
                incident.resolved_at,
                incident.resolution,
            ),
        )
        row = await cur.fetchone()
        assert row is not None
        ids[identity(incident)] = int(row[0])
    return ids


async def enqueue(conn: psycopg.AsyncConnection[Any], incident_ids: Sequence[int]) -> None:
    """Tell Alertmanager about these incidents as they now are, as soon as possible."""
    if incident_ids:
        await conn.execute(_ENQUEUE, (list(incident_ids),))


async def enqueue_unsent(conn: psycopg.AsyncConnection[Any]) -> int:
    """Put every open incident the outbox does not hold into it; returns how many."""
    cur = await conn.execute(_ENQUEUE_UNSENT)
    return cur.rowcount


async def open_keys(conn: psycopg.AsyncConnection[Any]) -> list[IncidentKey]:
    cur = await conn.execute("SELECT source, type, kind FROM incidents WHERE resolved_at IS NULL ORDER BY 1, 2, 3")
    return [(s, t, k) for s, t, k in await cur.fetchall()]
