"""Writes domain events to Postgres idempotently: COPY into a staging table, then one
INSERT ... ON CONFLICT DO NOTHING. A redelivered entry (same event id) or a repeat of the sender's
delivery key never makes a second row."""

from __future__ import annotations

import json
from collections.abc import Sequence

import orjson
import psycopg

from reflex_common.schemas import DomainEvent

_COLUMNS = "event_id, source, kind, type, occurred_at, received_at, delivery_key, entity, payload, stream_id"

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS events_stage (LIKE events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""


def event_row(stream_id: str, e: DomainEvent) -> tuple[object, ...]:
    """One `events` row, in _COLUMNS order, as COPY takes it."""
    return (
        e.event_id,
        e.source,
        e.kind,
        e.type,
        e.occurred_at,
        e.received_at,
        e.delivery_key,
        e.entity,
        _payload_json(e.payload),
        stream_id,
    )


def _payload_json(payload: object) -> str:
    try:
        return orjson.dumps(payload).decode()
    except orjson.JSONEncodeError:
        # Integers past 64 bits (kept exact by the adapters): the standard library writes them.
        return json.dumps(payload, ensure_ascii=False)


async def store_events(
    conn: psycopg.AsyncConnection[tuple[object, ...]], events: Sequence[tuple[str, DomainEvent]]
) -> set[str]:
    """Insert (stream_id, event) pairs in the connection's open transaction. Returns the event ids
    that are in the table afterwards (inserted now or by an earlier delivery); the others were
    repeats of a delivery key already stored under another event id."""
    if not events:
        return set()
    await conn.execute(_STAGE)
    async with conn.cursor().copy(f"COPY events_stage ({_COLUMNS}) FROM STDIN") as copy:
        for stream_id, e in events:
            await copy.write_row(event_row(stream_id, e))
    inserted = await conn.execute(
        f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_stage ORDER BY event_id "
        "ON CONFLICT DO NOTHING RETURNING event_id::text"
    )
    stored = {str(row[0]) for row in await inserted.fetchall()}
    rest = [e.event_id for _, e in events if e.event_id not in stored]
    if rest:
        # Not inserted now: either in the table already (an earlier delivery that crashed before its
        # ack: stored) or a repeat of another event's delivery key (not stored). Only then look.
        cur = await conn.execute("SELECT event_id::text FROM events WHERE event_id = ANY(%s::uuid[])", (rest,))
        stored.update(str(row[0]) for row in await cur.fetchall())
    return stored
