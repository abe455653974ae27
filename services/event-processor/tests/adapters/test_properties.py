"""Whatever arrives, every adapter either normalizes it or raises InvalidMessage (dead-letter it):
never another exception, never an empty or over-long type, never a value Postgres cannot store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reflex_common.errors import InvalidMessage
from reflex_processor.adapters.base import MAX_KEY_CHARS, MAX_TYPE_CHARS, Normalized
from reflex_processor.adapters.registry import ADAPTERS

from .conftest import FORM, raw_event

KINDS = sorted(ADAPTERS)

# Field names the adapters read, so that arbitrary bodies reach past the first lookup.
FIELDS = tuple(
    """
    action actions action_ts broadcaster_user_id build_status CallSid CallStatus changes changeType
    channel channel_id command commits condition created createdAt created_at data entry event event_id
    event_time event_ts event_type EventType field finished_at followed_at full_name guild_id head_commit
    id identifier iid issue item lifecycleEvent merge_request message MessageId MessageSid MessageStatus
    messages messaging name number object object_attributes object_kind occurred_at organization
    path_with_namespace payload postback project pull_request RecordingSid RecordingStatus related_object
    repository resource resource_type SmsSid SmsStatus status statuses Subject subscription subscriptionId
    subtype team_id time Timestamp timestamp TopicArn TranscriptionSid TranscriptionStatus trigger_id Type
    type updated_at user user_id value webhookTimestamp
    """.split()
)
# Values that look like what providers send, so the parsing paths are exercised too.
LIKELY_TEXT = (
    "event_callback",
    "notification",
    "revocation",
    "Notification",
    "push",
    "pull_request",
    "opened",
    "orders/create",
    "2024-05-15T15:20:33Z",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2015-05-17 18:08:09 UTC",
    "Mon, 16 Aug 2010 03:45:01 +0000",
    "Mon, 16 Aug 99999 03:45:01 +9999",
    "1715786433",
    "1e400",
    "nan",
    "786008729715212338",
    "9" * 40,
    "/",
    "Users/x/Messages/y?$top=1",
    '{"type": "block_actions"}',
    "{oops",
    "arn:aws:sns:us-west-2:123456789012:MyTopic",
    " ",
    "",
)
texts = st.text(max_size=30) | st.sampled_from(LIKELY_TEXT) | st.text(min_size=190, max_size=300)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=40,
)
HEADER_NAMES = tuple(
    """
    x-github-event x-shopify-topic x-shopify-triggered-at x-shopify-shop-domain twitch-eventsub-message-type
    twitch-eventsub-message-timestamp x-amz-sns-message-type x-amz-sns-topic-arn
    """.split()
)
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), texts, max_size=4)
content_types = st.sampled_from(["application/json", FORM, "text/plain"])
forms = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), texts, max_size=8).map(
    lambda fields: urlencode(fields).encode()
)

fuzz = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def check(kind: str, body: bytes, header_values: dict[str, str], content_type: str) -> None:
    try:
        normalized = ADAPTERS[kind](raw_event(kind, body, header_values, content_type))
    except InvalidMessage:
        return
    assert isinstance(normalized, Normalized)
    assert isinstance(normalized.type, str)
    assert 0 < len(normalized.type) <= MAX_TYPE_CHARS
    assert normalized.type.strip()
    occurred_at = normalized.occurred_at
    assert occurred_at is None or occurred_at.utcoffset() == timedelta(0)
    key = normalized.delivery_key
    assert key is None or (isinstance(key, str) and 0 < len(key) <= MAX_KEY_CHARS)
    assert normalized.entity is None or isinstance(normalized.entity, str)
    # Postgres text and jsonb hold no NUL characters.
    assert not _has_nul([normalized.type, key, normalized.entity, normalized.payload])
    orjson.dumps(normalized.payload)


@pytest.mark.parametrize("kind", KINDS)
@fuzz
@given(body=json_values, header_values=headers, content_type=content_types)
def test_arbitrary_json(kind: str, body: Any, header_values: dict[str, str], content_type: str) -> None:
    check(kind, orjson.dumps(body), header_values, content_type)


@pytest.mark.parametrize("kind", KINDS)
@fuzz
@given(body=st.binary(max_size=200) | forms, header_values=headers, content_type=content_types)
def test_arbitrary_bytes(kind: str, body: bytes, header_values: dict[str, str], content_type: str) -> None:
    check(kind, body, header_values, content_type)


@fuzz
@given(data=st.data())
def test_fixture_with_a_part_replaced(cases, data: st.DataObject) -> None:
    """A real delivery with one value anywhere in it swapped for arbitrary JSON: malformed in the ways
    that get furthest into an adapter."""
    case = data.draw(st.sampled_from(cases))
    body = orjson.loads(orjson.dumps(case.body))
    paths = list(_paths(body))
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(json_values)
    if path:
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = replacement
    else:
        body = replacement
    if case.content_type == FORM and isinstance(body, dict):
        encoded = urlencode({k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in body.items()})
        check(case.kind, encoded.encode(), case.headers, FORM)
    else:
        check(case.kind, orjson.dumps(body), case.headers, "application/json")


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Any:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))
