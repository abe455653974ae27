"""The events stream's entries: written in the compact layout (one field), read in it and in the
layout entries written before an upgrade still have."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from reflex_common.errors import InvalidMessage
from reflex_common.schemas import DomainEvent

AT = datetime(2026, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event(**kw: object) -> DomainEvent:
    values: dict[str, object] = dict(
        event_id="0190f0e0-0000-7000-8000-00000000000a",
        source="gh",
        kind="github",
        type="push",
        occurred_at=AT,
        received_at=AT,
        delivery_key="d-1",
        entity="repo:octo/hello",
    )
    values.update(kw)
    return DomainEvent(**values)  # type: ignore[arg-type]


def test_a_forwarded_event_is_one_field_that_reads_back_with_its_trace() -> None:
    fields = event().to_fields(TRACEPARENT)
    assert list(fields) == ["e"]
    assert DomainEvent.from_fields(fields) == event(traceparent=TRACEPARENT)
    assert DomainEvent.from_fields(event().to_fields(None)).traceparent is None


def test_entries_in_the_layout_before_the_upgrade_still_read() -> None:
    legacy = {
        "v": b"1",
        "event": orjson.dumps(event().model_dump(mode="json", exclude={"payload"})),
        "traceparent": TRACEPARENT.encode(),
    }
    assert DomainEvent.from_fields(legacy) == event(traceparent=TRACEPARENT)
    assert DomainEvent.from_fields({k: v for k, v in legacy.items() if k != "traceparent"}) == event()


def test_entries_of_neither_layout_or_not_valid_are_invalid() -> None:
    with pytest.raises(InvalidMessage, match="schema version"):
        DomainEvent.from_fields({"v": b"9", "event": b"{}"})
    with pytest.raises(InvalidMessage, match="bad domain event"):
        DomainEvent.from_fields({"e": b'{"event_id": "x"}'})
    with pytest.raises(InvalidMessage, match="bad domain event"):
        DomainEvent.from_fields({"e": b"not json"})
