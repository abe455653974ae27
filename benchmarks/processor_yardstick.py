"""The processor benchmark's yardstick: the consumer a team would write itself with plain redis-py and
psycopg, doing the processor's job on the same raw entries — a baseline, not part of any service.

Per batch: XREADGROUP (its own group on the same raw stream, so it reads the very entries the
processor read), parse each body once (orjson) for the type and entity, keep the raw body text as
the jsonb value, binary COPY into a staging table, INSERT … SELECT into a table like `events` (same
primary key and indexes) ON CONFLICT DO NOTHING RETURNING the ids, commit, then XADD one compact
entry per stored event and XACK the batch in one MULTI. No adapters, spans, metrics, retries, claims
or dead letters: what the processor does beyond this is what its ratio to the yardstick measures."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from redis.asyncio import Redis

GROUP = "yardstick"
CONSUMER = "yardstick-1"
TABLE = "events_yardstick"
COLUMNS = "event_id, source, kind, type, occurred_at, received_at, delivery_key, entity, payload, stream_id"
# The forwarded entry: one field, the event's identity as JSON (no payload), as the processor's.
_FORWARDED = ("event_id", "source", "kind", "type", "occurred_at", "received_at", "delivery_key", "entity")
TYPES = ("uuid", "text", "text", "text", "timestamptz", "timestamptz", "text", "text", "jsonb", "text")


def _as_is(text: str | bytes) -> str | bytes:
    return text


async def create_yardstick(conn: psycopg.AsyncConnection[tuple[object, ...]], redis: Redis, raw_stream: str) -> None:
    """Its table (like `events`: same keys and indexes, empty) and its group, reading from the start."""
    await conn.execute(f"CREATE TABLE {TABLE} (LIKE events INCLUDING ALL)")
    await conn.commit()
    await redis.xgroup_create(raw_stream, GROUP, id="0")


def _row(entry_id: bytes, fields: dict[bytes, bytes]) -> tuple[object, ...]:
    headers = orjson.loads(fields[b"headers"])
    body = fields[b"body"]
    doc = orjson.loads(body)
    action = doc.get("action") if isinstance(doc, dict) else None
    event = headers.get("x-github-event", "unknown")
    repo = doc.get("repository") if isinstance(doc, dict) else None
    received_at = datetime.fromtimestamp(int(fields[b"received_at_ms"]) / 1000, tz=UTC)
    key = fields.get(b"delivery_key")
    return (
        uuid.UUID(fields[b"event_id"].decode()),
        fields[b"source"].decode(),
        fields[b"kind"].decode(),
        f"{event}.{action}" if isinstance(action, str) else event,
        received_at,
        received_at,
        key.decode() if key is not None else None,
        f"repo:{repo['full_name']}" if isinstance(repo, dict) and "full_name" in repo else None,
        Jsonb(body.decode(), dumps=_as_is),
        entry_id.decode(),
    )


async def run_yardstick(
    redis_url: str, db_url: str, raw_stream: str, events_stream: str, n: int, batch_size: int, maxlen: int
) -> float:
    """Seconds to store, forward and ack n raw entries, one batch at a time."""
    redis = Redis.from_url(redis_url)
    try:
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            await conn.execute(
                f"CREATE TEMP TABLE yardstick_stage (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            await conn.commit()
            done = 0
            t = time.perf_counter()
            while done < n:
                reply: Any = await redis.xreadgroup(GROUP, CONSUMER, {raw_stream: ">"}, count=batch_size, block=1000)
                if not reply:
                    raise RuntimeError(f"the yardstick found {n - done} entries missing")
                entries = reply[0][1]
                rows = [_row(entry_id, fields) for entry_id, fields in entries]
                async with conn.transaction():
                    async with conn.cursor().copy(
                        f"COPY yardstick_stage ({COLUMNS}) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(TYPES)
                        for row in rows:
                            await copy.write_row(row)
                    cur = await conn.execute(
                        f"INSERT INTO {TABLE} ({COLUMNS}) SELECT {COLUMNS} FROM yardstick_stage ORDER BY event_id "
                        "ON CONFLICT DO NOTHING RETURNING event_id"
                    )
                    stored = {row[0] for row in await cur.fetchall()}
                async with redis.pipeline(transaction=True) as pipe:
                    for row, (_, fields) in zip(rows, entries, strict=True):
                        if row[0] in stored:
                            event = dict(zip(_FORWARDED, row[:8], strict=True))
                            event["traceparent"] = fields.get(b"traceparent", b"").decode()
                            pipe.xadd(events_stream, {"e": orjson.dumps(event)}, maxlen=maxlen, approximate=True)
                    pipe.xack(raw_stream, GROUP, *[entry_id for entry_id, _ in entries])
                    await pipe.execute()
                done += len(entries)
            return time.perf_counter() - t
    finally:
        await redis.aclose()
