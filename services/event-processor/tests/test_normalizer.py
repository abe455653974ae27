from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reflex_common.errors import InvalidMessage
from reflex_common.schemas import RawEvent
from reflex_processor.normalizer import normalize


def raw(body: bytes, **kw: object) -> RawEvent:
    values: dict[str, object] = dict(
        event_id="0190f0e0-0000-7000-8000-000000000001",
        source="s",
        kind="hmac",
        received_at_ms=1_700_000_000_000,
        body=body,
        headers={},
    )
    values.update(kw)
    return RawEvent(**values)  # type: ignore[arg-type]


def test_received_time_stands_in_for_a_missing_occurred_time() -> None:
    event = normalize(raw(b'{"type": "thing.happened"}'))
    assert event.type == "thing.happened"
    assert event.received_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert event.occurred_at == event.received_at


def test_the_ingress_delivery_key_wins() -> None:
    assert normalize(raw(b"{}", delivery_key="hdr-1")).delivery_key == "hdr-1"


def test_unparseable_body_is_invalid() -> None:
    with pytest.raises(InvalidMessage):
        normalize(raw(b"{oops"))


def test_nul_escapes_are_invalid_for_jsonb() -> None:
    with pytest.raises(InvalidMessage, match="u0000"):
        normalize(raw(b'{"a": "x\\u0000y"}'))


def test_json_nested_deeper_than_the_store_takes_is_invalid() -> None:
    # Before: 202 at the ingress, then RecursionError in the encoder, 5 retries, then the DLQ.
    deep = b"[" * 1000 + b"]" * 1000
    with pytest.raises(InvalidMessage, match="deeper than 254"):
        normalize(raw(deep))
    ok = b"[" * 254 + b"]" * 254
    assert normalize(raw(ok)).payload is not None


def test_raw_event_round_trips_through_stream_fields() -> None:
    original = raw(b'{"a": 1}', delivery_key="k", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    assert RawEvent.from_fields(original.to_fields()) == original
    with pytest.raises(InvalidMessage):
        RawEvent.from_fields({"v": b"9"})


def test_integers_past_64_bits_are_read_exactly_and_digits_in_strings_stay_text() -> None:
    event = normalize(raw(b'{"note": "id 98765432109876543210", "amount": 12345678901234567890123}'))
    assert event.payload == {"note": "id 98765432109876543210", "amount": 12345678901234567890123}
