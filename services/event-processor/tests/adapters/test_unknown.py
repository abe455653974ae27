"""What an adapter cannot type is kept as UNKNOWN_TYPE with whatever else it could read; what the
provider names, even an event this code has never heard of, keeps the provider's name."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from reflex_processor.adapters import generic
from reflex_processor.adapters.base import MAX_TYPE_CHARS, UNKNOWN_TYPE
from reflex_processor.adapters.registry import ADAPTERS, adapter_for

from .conftest import FORM, raw_event

SHAPELESS_BODIES = [b"", b"{}", b"[]", b"null", b"42", b'"text"', b'{"unrelated": {"nested": [1, 2]}}']


@pytest.mark.parametrize("kind", sorted(ADAPTERS))
@pytest.mark.parametrize("body", SHAPELESS_BODIES)
def test_a_body_without_type_information_is_unknown(kind: str, body: bytes) -> None:
    normalized = ADAPTERS[kind](raw_event(kind, body))
    assert normalized.type == UNKNOWN_TYPE
    assert normalized.payload == (orjson.loads(body) if body else None)


# (kind, body, headers, content type, expected field values besides type == UNKNOWN_TYPE)
MALFORMED = [
    ("github", {"action": "opened", "repository": {"full_name": "octo/hello"}}, {}, {"entity": "repo:octo/hello"}),
    ("stripe", {"id": "evt_1", "created": 1715786433, "data": {"object": "in_1"}}, {}, {"delivery_key": "evt_1"}),
    ("stripe", {"id": ["evt_1"], "type": 42, "created": True}, {}, {"delivery_key": None, "occurred_at": None}),
    ("slack", {"type": "event_callback", "event": "app_mention", "event_id": "Ev1"}, {}, {"delivery_key": "Ev1"}),
    ("shopify", {"id": 1}, {"x-shopify-shop-domain": "toys.myshopify.com"}, {"entity": "shop:toys.myshopify.com"}),
    ("gitlab", {"object_attributes": {"action": "open", "iid": 1}}, {}, {"entity": None}),
    ("standard", {"timestamp": "2024-05-15T15:20:33Z", "data": {"id": "x"}}, {}, {"entity": None}),
    ("linear", {"action": "create", "data": {"id": "x"}}, {}, {"entity": None}),
    ("pagerduty", {"event": {"id": "01BZ", "event_type": None}}, {}, {"delivery_key": "01BZ"}),
    ("twitch", {"event": {"broadcaster_user_id": "1337"}}, {}, {"entity": "channel:1337"}),
    ("zoom", {"event_ts": 1626230691572, "payload": {"object": {"id": 1}}}, {}, {"entity": None}),
    ("discord", {"id": "786008729715212338", "type": 99}, {}, {"delivery_key": "786008729715212338"}),
    ("discord", {"id": "not-a-snowflake", "type": True}, {}, {"occurred_at": None}),
    ("discord", {"type": 2.0, "data": {"name": "blep"}}, {}, {}),
    ("meta", {"entry": [{"id": "1", "changes": [{"field": "feed"}]}]}, {}, {"entity": None}),
    ("msgraph", {"value": []}, {}, {"delivery_key": None}),
    ("msgraph", {"value": [{"changeType": "created", "resource": "1234/5678"}]}, {}, {"entity": "1234/5678"}),
    ("msgraph", {"value": {"changeType": "created"}}, {}, {"entity": None}),
    ("sns", {"Message": "hello", "MessageId": "m-1"}, {}, {"delivery_key": "m-1"}),
]


@pytest.mark.parametrize(("kind", "body", "headers", "fields"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_json_is_unknown_with_what_can_be_read(
    kind: str, body: object, headers: dict[str, str], fields: dict[str, object]
) -> None:
    normalized = ADAPTERS[kind](raw_event(kind, orjson.dumps(body), headers))
    assert normalized.type == UNKNOWN_TYPE
    for name, value in fields.items():
        assert getattr(normalized, name) == value


@pytest.mark.parametrize(
    ("kind", "form"),
    [
        ("twilio", b"AccountSid=AC123&From=%2B15551234567"),
        ("twilio", b"MessageSid=SM123&Body=hi"),
        ("slack", b"token=secret-token&payload=%7Boops"),
        ("slack", b"token=secret-token&payload=%5B1%5D"),
    ],
)
def test_unrecognized_forms_are_unknown(kind: str, form: bytes) -> None:
    normalized = ADAPTERS[kind](raw_event(kind, form, content_type=FORM))
    assert normalized.type == UNKNOWN_TYPE
    assert "secret-token" not in orjson.dumps(normalized.payload).decode()


def test_unfamiliar_event_names_are_kept_as_the_provider_names_them() -> None:
    github = ADAPTERS["github"](
        raw_event("github", b'{"action": "checks_requested"}', {"x-github-event": "merge_group"})
    )
    assert github.type == "merge_group.checks_requested"
    stripe = ADAPTERS["stripe"](raw_event("stripe", b'{"type": "entitlements.active_entitlement_summary.updated"}'))
    assert stripe.type == "entitlements.active_entitlement_summary.updated"


def test_types_are_cut_to_the_column_length() -> None:
    normalized = ADAPTERS["stripe"](raw_event("stripe", orjson.dumps({"type": "invoice." + "x" * 500})))
    assert len(normalized.type) == MAX_TYPE_CHARS


def test_linear_falls_back_to_the_webhook_timestamp() -> None:
    body = {"type": "Issue", "action": "remove", "webhookTimestamp": 1715786433190, "data": {"id": "i1"}}
    normalized = ADAPTERS["linear"](raw_event("linear", orjson.dumps(body)))
    assert normalized.occurred_at == datetime(2024, 5, 15, 15, 20, 33, 190000, tzinfo=UTC)


def test_kinds_without_an_adapter_use_the_generic_one() -> None:
    assert adapter_for("hmac") is generic.normalize
