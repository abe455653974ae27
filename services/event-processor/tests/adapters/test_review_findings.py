"""Findings of a review of the adapters, each kept fixed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

from reflex_common.schemas import RawEvent
from reflex_processor.normalizer import normalize


def raw(kind: str, body: bytes, headers: dict[str, str] | None = None, ct: str = "application/json") -> RawEvent:
    return RawEvent(
        event_id="0190f0e0-0000-7000-8000-000000000001",
        source="s",
        kind=kind,
        received_at_ms=1_700_000_000_000,
        body=body,
        headers=headers or {},
        content_type=ct,
    )


def test_github_form_encoded_payload_is_decoded() -> None:
    inner = {
        "action": "opened",
        "number": 42,
        "pull_request": {"number": 42, "updated_at": "2024-01-02T03:04:05Z"},
        "repository": {"full_name": "octo/hello"},
    }
    body = urlencode({"payload": json.dumps(inner)}).encode()
    event = normalize(raw("github", body, {"x-github-event": "pull_request"}, "application/x-www-form-urlencoded"))
    assert (event.type, event.entity) == ("pull_request.opened", "repo:octo/hello#pr:42")
    assert event.occurred_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_text_that_merely_mentions_backslash_u0000_is_storable() -> None:
    body = b'{"type":"x.y","message":"strip \\\\u0000 from names"}'
    assert "\x00" not in json.loads(body)["message"]
    assert normalize(raw("standard", body)).type == "x.y"


def test_a_push_is_timed_by_the_push_not_its_head_commit() -> None:
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "repository": {"full_name": "o/r", "pushed_at": 1700000000},
            "head_commit": {"timestamp": "2020-01-01T00:00:00-05:00"},
        }
    ).encode()
    event = normalize(raw("github", body, {"x-github-event": "push"}))
    assert event.occurred_at == datetime.fromtimestamp(1700000000, tz=UTC)


def test_shopify_entities_are_singular() -> None:
    for topic, entity in (
        ("companies/create", "company:7"),
        ("orders/paid", "order:7"),
        ("customer_addresses/create", "customer_address:7"),
    ):
        event = normalize(
            raw("shopify", b'{"id": 7, "updated_at": "2024-01-01T00:00:00Z"}', {"x-shopify-topic": topic})
        )
        assert event.entity == entity
