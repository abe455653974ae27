"""The alert outbox, seen from the sender: claim what is due, then settle it (`alert_outbox`).

A claim pushes the rows' due time past the delivery's timeout (a lease), so a sender that dies
mid-delivery leaves them to be claimed again, and another replica's sender skips them. Settling
names the version it claimed: a row the detector changed meanwhile (the incident resolved while
its firing alert was on the wire) stays due and goes out again at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from reflex_anomaly.incident_store import COLUMNS, incident_of
from reflex_anomaly.incidents import Incident

_CLAIM = f"""
WITH due AS (
    SELECT incident_id FROM alert_outbox WHERE due_at <= now()
    ORDER BY due_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE alert_outbox o SET due_at = now() + make_interval(secs => %(lease_s)s)
    FROM due WHERE o.incident_id = due.incident_id
    RETURNING o.incident_id, o.version, o.attempts
)
SELECT c.incident_id, c.version, c.attempts, {COLUMNS}
FROM claimed c JOIN incidents i ON i.id = c.incident_id
ORDER BY i.opened_at, i.id
"""

_SENT_FIRING = """
UPDATE alert_outbox SET due_at = now() + make_interval(secs => %s), attempts = 0, last_error = NULL,
                        last_sent_at = now()
WHERE incident_id = %s AND version = %s
"""

_SENT_RESOLVED = "DELETE FROM alert_outbox WHERE incident_id = %s AND version = %s"

_FAILED = """
UPDATE alert_outbox SET due_at = now() + make_interval(secs => %s), attempts = attempts + 1, last_error = %s
WHERE incident_id = %s AND version = %s
"""

_NEXT_DUE = "SELECT greatest(extract(epoch FROM min(due_at) - now()), 0) FROM alert_outbox"


@dataclass(frozen=True, slots=True)
class Due:
    incident_id: int
    version: int
    attempts: int  # failed deliveries since the last success
    incident: Incident


async def claim(conn: psycopg.AsyncConnection[Any], limit: int, lease_s: float) -> list[Due]:
    cur = await conn.execute(_CLAIM, {"limit": limit, "lease_s": lease_s})
    return [Due(row[0], row[1], row[2], incident_of(row[3:])) for row in await cur.fetchall()]


async def settle_sent(conn: psycopg.AsyncConnection[Any], due: Sequence[Due], resend_interval_s: float) -> None:
    """Delivered: a resolved incident leaves the outbox, a firing one is due again in an interval."""
    async with conn.cursor() as c:
        resolved = [(d.incident_id, d.version) for d in due if not d.incident.is_open]
        firing = [(resend_interval_s, d.incident_id, d.version) for d in due if d.incident.is_open]
        if resolved:
            await c.executemany(_SENT_RESOLVED, resolved)
        if firing:
            await c.executemany(_SENT_FIRING, firing)


async def settle_failed(
    conn: psycopg.AsyncConnection[Any], due: Sequence[Due], error: str, retry_in_s: Sequence[float]
) -> None:
    async with conn.cursor() as c:
        await c.executemany(
            _FAILED, [(delay, error[:1000], d.incident_id, d.version) for d, delay in zip(due, retry_in_s, strict=True)]
        )


async def next_due_in_s(conn: psycopg.AsyncConnection[Any]) -> float | None:
    """Seconds until the next row is due (0 when one is due now), None when the outbox is empty."""
    cur = await conn.execute(_NEXT_DUE)
    row = await cur.fetchone()
    return None if row is None or row[0] is None else float(row[0])
