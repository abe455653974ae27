"""The generic adapter: for kinds without one of their own (hmac, token, basic, none, ...).

The type comes from a common header or body field when there is one; otherwise UNKNOWN_TYPE.
"""

from __future__ import annotations

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import UNKNOWN_TYPE, Normalized, as_received, dig, from_iso, from_unix, parse_body

_TYPE_HEADERS = ("x-event-type", "x-github-event", "x-gitlab-event", "x-shopify-topic", "x-webhook-event")
_TYPE_FIELDS = ("type", "event_type", "event", "topic", "action")
_TIME_FIELDS = ("occurred_at", "created_at", "timestamp", "time", "created")


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    event_type = next((raw.headers[h] for h in _TYPE_HEADERS if raw.headers.get(h)), None)
    if event_type is None and isinstance(body, dict):
        event_type = next((str(body[f]) for f in _TYPE_FIELDS if isinstance(body.get(f), str | int)), None)
    occurred_at = None
    if isinstance(body, dict):
        for field in _TIME_FIELDS:
            value = body.get(field)
            occurred_at = from_iso(value) or (from_unix(value) if isinstance(value, int | float) else None)
            if occurred_at is not None:
                break
    entity = dig(body, "id")
    return Normalized(
        type=(event_type or UNKNOWN_TYPE)[:200],
        occurred_at=occurred_at,
        delivery_key=None,
        entity=str(entity) if isinstance(entity, str | int) else None,
        payload=body,
        payload_json=as_received(raw, body),
    )
