"""A raw entry whose data Postgres refuses (SQLSTATE class 22: it can never be stored) lands in the
DLQ at its first delivery, as invalid; the entries around it flow on."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from pipeline import worker_settings
from reflex_common.ids import new_event_id
from reflex_common.keys import PROCESSOR_GROUP, Keys
from reflex_common.schemas import RawEvent
from reflex_processor.settings import ProcessorSettings
from reflex_processor.worker import create_worker


def raw(event_id: str, n: int) -> dict[str, bytes]:
    return RawEvent(
        event_id=event_id,
        source="gh",
        kind="github",
        received_at_ms=int(time.time() * 1000),
        body=b'{"n": %d}' % n,
        headers={"x-github-event": "push"},
    ).to_fields()


@pytest.mark.timeout(60)
async def test_entry_postgres_refuses_as_data_is_dead_lettered_at_once(
    redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path
) -> None:
    keys = Keys(key_prefix)
    async with Redis.from_url(redis_url) as r:
        good_before = [new_event_id() for _ in range(20)]
        good_after = [new_event_id() for _ in range(20)]
        for i, eid in enumerate(good_before):
            await r.xadd(keys.raw_stream, raw(eid, i))
        # Passes the wire schema, but Postgres refuses it every time: "not-a-uuid" is no uuid.
        poison_id = (await r.xadd(keys.raw_stream, raw("not-a-uuid", 99))).decode()
        for i, eid in enumerate(good_after):
            await r.xadd(keys.raw_stream, raw(eid, 100 + i))

        common = worker_settings(redis_url, migrated_db, key_prefix, "p1")
        settings = ProcessorSettings(**{**common, "max_deliveries": 3, "min_idle_ms": 100})
        async with create_worker(settings, TracerProvider().get_tracer("t"), CollectorRegistry()) as worker:
            await worker.run(burst=True)

        letters = await r.xrange(keys.dlq_stream(keys.raw_stream))
        assert len(letters) == 1
        fields = letters[0][1]
        assert fields[b"dlq:original_id"].decode() == poison_id
        assert fields[b"dlq:deliveries"] == b"1"  # no retries: retrying cannot help
        assert fields[b"event_id"] == b"not-a-uuid"  # the original fields travel with it
        assert (fields[b"dlq:reason"], fields[b"dlq:error_class"]) == (b"invalid", b"InvalidTextRepresentation")
        assert int((await r.xpending(keys.raw_stream, PROCESSOR_GROUP))["pending"]) == 0
        assert await r.xlen(keys.events_stream) == 40

    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        stored = await (await conn.execute("SELECT event_id::text FROM events")).fetchall()
    assert sorted(e for (e,) in stored) == sorted(good_before + good_after)
