"""Writes events to Postgres idempotently: binary COPY into a staging table, then one
INSERT ... ON CONFLICT DO NOTHING. A redelivered entry (same event id) or a repeat of the sender's
delivery key never makes a second row."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format

from reflex_processor.event import StoredEvent

COLUMNS = "event_id, source, kind, type, occurred_at, received_at, delivery_key, entity, payload, stream_id"
# The Postgres types of COLUMNS as COPY sends them (binary: Postgres applies no cast). The event id
# travels as text and is cast on the way into `events`, so that Postgres judges a malformed one
# (InvalidTextRepresentation: class 22, dead-lettered at once) as it always has.
COLUMN_TYPES = ("text", "text", "text", "text", "timestamptz", "timestamptz", "text", "text", "jsonb", "text")

_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS events_stage (
    event_id text, source text, kind text, type text, occurred_at timestamptz, received_at timestamptz,
    delivery_key text, entity text, payload jsonb, stream_id text
) ON COMMIT DELETE ROWS
"""
_INSERT = f"""
INSERT INTO events ({COLUMNS})
SELECT event_id::uuid, source, kind, type, occurred_at, received_at, delivery_key, entity, payload, stream_id
FROM events_stage ORDER BY 1
ON CONFLICT DO NOTHING RETURNING event_id::text
"""


class JsonbTextDumper(Dumper):
    """A jsonb value given as its JSON text (bytes), in binary: version 1, then the text — the
    server parses it, the client never does."""

    format = Format.BINARY
    oid = postgres.types["jsonb"].oid

    def dump(self, obj: bytes) -> bytes:
        return b"\x01" + obj


def event_row(stream_id: str, e: StoredEvent) -> tuple[object, ...]:
    """One `events` row, in COLUMNS order, as the binary COPY takes it (see `copy_rows`)."""
    return (
        e.event_id,
        e.source,
        e.kind,
        e.type,
        e.occurred_at,
        e.received_at,
        e.delivery_key,
        e.entity,
        e.payload_json,
        stream_id,
    )


async def copy_rows(
    cursor: psycopg.AsyncCursor[tuple[object, ...]],
    table: str,
    rows: Sequence[tuple[object, ...]],
    types: Sequence[str] = COLUMN_TYPES,
) -> None:
    """Binary COPY of event_row()s into `table` (the staging table; or, with `types`, another)."""
    cursor.adapters.register_dumper(None, JsonbTextDumper)
    async with cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            await copy.write_row(row)


async def stage_rows(conn: psycopg.AsyncConnection[tuple[object, ...]], rows: Sequence[tuple[object, ...]]) -> None:
    """The batch's event_row()s into the (temporary, per-transaction) staging table."""
    await conn.execute(_STAGE)
    await copy_rows(conn.cursor(), "events_stage", rows)


async def insert_staged(conn: psycopg.AsyncConnection[tuple[object, ...]]) -> set[str]:
    """The staged rows into `events`, each unless its id or (source, delivery key) is there already.
    Returns the event ids inserted."""
    inserted = await conn.execute(_INSERT)
    return {str(row[0]) for row in await inserted.fetchall()}


async def store_events(
    conn: psycopg.AsyncConnection[tuple[object, ...]], events: Sequence[tuple[str, StoredEvent]]
) -> set[str]:
    """Insert (stream_id, event) pairs in the connection's open transaction. Returns the event ids
    that are in the table afterwards (inserted now or by an earlier delivery); the others were
    repeats of a delivery key already stored under another event id."""
    if not events:
        return set()
    await stage_rows(conn, [event_row(stream_id, e) for stream_id, e in events])
    stored = await insert_staged(conn)
    rest = [e.event_id for _, e in events if e.event_id not in stored]
    if rest:
        # Not inserted now: either in the table already (an earlier delivery that crashed before its
        # ack: stored) or a repeat of another event's delivery key (not stored). Only then look.
        cur = await conn.execute("SELECT event_id::text FROM events WHERE event_id = ANY(%s::uuid[])", (rest,))
        stored.update(str(row[0]) for row in await cur.fetchall())
    return stored
