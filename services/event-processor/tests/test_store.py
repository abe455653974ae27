"""Postgres is the last word on duplicates: the same event id, or the same (source, delivery key)
under another event id, never makes a second row."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import psycopg

from reflex_processor.event import StoredEvent
from reflex_processor.store import store_events

AT = datetime(2026, 5, 1, tzinfo=UTC)


def event(event_id: str, key: str | None) -> StoredEvent:
    return StoredEvent(
        event_id=event_id,
        source="stripe-main",
        kind="stripe",
        type="invoice.paid",
        occurred_at=AT,
        received_at=AT,
        received_at_ms=int(AT.timestamp() * 1000),
        delivery_key=key,
        entity=None,
        payload={"id": key},
        payload_json=orjson.dumps({"id": key}),
    )


A = "0190f0e0-0000-7000-8000-00000000000a"
B = "0190f0e0-0000-7000-8000-00000000000b"
C = "0190f0e0-0000-7000-8000-00000000000c"


async def test_redelivery_and_repeated_delivery_keys_make_no_second_row(migrated_db: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        async with conn.transaction():
            assert await store_events(conn, [("1-0", event(A, "evt_1")), ("1-1", event(C, None))]) == {A, C}
        async with conn.transaction():
            # A again (redelivered entry) is still reported stored, so it is forwarded again;
            # B repeats A's delivery key past the ingress horizon: not stored, not forwarded.
            assert await store_events(conn, [("1-0", event(A, "evt_1")), ("2-0", event(B, "evt_1"))]) == {A}
        rows = await (await conn.execute("SELECT event_id::text, delivery_key FROM events ORDER BY 1")).fetchall()
    assert rows == [(A, "evt_1"), (C, None)]


async def test_integers_past_64_bits_are_stored_exactly(migrated_db: str) -> None:
    from reflex_common.schemas import RawEvent
    from reflex_processor.normalizer import normalize

    big = 123456789012345678901234567890
    raw = RawEvent(
        event_id=A,
        source="s",
        kind="stripe",
        received_at_ms=1_700_000_000_000,
        body=b'{"id": "evt_1", "type": "x.y", "amount": %d, "note": "id 12345678901234567890"}' % big,
        headers={},
    )
    event = normalize(raw)
    assert event.payload["amount"] == big
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        async with conn.transaction():
            assert await store_events(conn, [("1-0", event)]) == {A}
        row = await (await conn.execute("SELECT payload->>'amount', payload->>'note' FROM events")).fetchone()
    assert row == (str(big), "id 12345678901234567890")


async def test_the_payload_is_stored_as_the_json_text_that_arrived(migrated_db: str) -> None:
    from reflex_common.schemas import RawEvent
    from reflex_processor.normalizer import normalize

    body = b'{"type": "x.y", "price": 1.10, "n": 1e2, "id": 18446744073709551616, "s": "caf\\u00e9 \xc3\xa9"}'
    raw = RawEvent(event_id=A, source="s", kind="standard", received_at_ms=1_700_000_000_000, body=body, headers={})
    event = normalize(raw)
    assert event.payload_json == body  # not parsed and encoded again
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        async with conn.transaction():
            assert await store_events(conn, [("1-0", event)]) == {A}
        row = await (await conn.execute("SELECT payload::text FROM events")).fetchone()
    # jsonb keeps every number as written (numeric), where a float round trip would not.
    assert row == ('{"n": 100, "s": "café é", "id": 18446744073709551616, "type": "x.y", "price": 1.10}',)


async def test_postgres_judges_a_malformed_event_id_as_data_it_can_never_store(migrated_db: str) -> None:
    import pytest

    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            async with conn.transaction():
                await store_events(conn, [("1-0", event("not-a-uuid", None))])
