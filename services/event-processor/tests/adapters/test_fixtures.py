"""Each provider's documented example deliveries, normalized as the fixture says."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from reflex_processor.adapters.registry import ADAPTERS


def test_fixture_normalizes_as_expected(case) -> None:
    normalized = ADAPTERS[case.kind](case.raw())

    expected = case.expected
    occurred_at = expected["occurred_at"]
    assert normalized.type == expected["type"]
    assert normalized.occurred_at == (datetime.fromisoformat(occurred_at) if occurred_at else None)
    assert normalized.occurred_at is None or normalized.occurred_at.tzinfo is UTC
    assert normalized.delivery_key == expected["delivery_key"]
    assert normalized.entity == expected["entity"]
    stored = orjson.dumps(normalized.payload).decode()
    for secret in expected.get("not_stored", []):
        assert secret not in stored
    if "not_stored" not in expected:
        assert normalized.payload == case.body


def test_every_adapter_has_fixtures(cases) -> None:
    assert {case.kind for case in cases} == set(ADAPTERS)
