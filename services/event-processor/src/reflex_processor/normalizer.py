"""Raw webhook → the event to store, through the adapter of the source's kind. Pure."""

from __future__ import annotations

import json
from typing import Any

import orjson

from reflex_common.errors import InvalidMessage
from reflex_common.schemas import RawEvent
from reflex_common.schemas.domain_event import utc_from_ms
from reflex_processor.adapters.base import MAX_TYPE_CHARS
from reflex_processor.adapters.registry import adapter_for
from reflex_processor.event import StoredEvent


def normalize(raw: RawEvent) -> StoredEvent:
    """Raises InvalidMessage when the raw event can never become a domain event."""
    normalized = adapter_for(raw.kind)(raw)
    if not 0 < len(normalized.type) <= MAX_TYPE_CHARS:
        raise InvalidMessage(f"the adapter made a type of {len(normalized.type)} characters")
    received_at = utc_from_ms(raw.received_at_ms)
    payload_json = normalized.payload_json
    return StoredEvent(
        event_id=raw.event_id,
        source=raw.source,
        kind=raw.kind,
        type=normalized.type,
        occurred_at=normalized.occurred_at or received_at,
        received_at=received_at,
        received_at_ms=raw.received_at_ms,
        # The ingress read the key from the provider's headers; the body's key is the fallback.
        delivery_key=raw.delivery_key or normalized.delivery_key,
        entity=normalized.entity,
        payload=normalized.payload,
        payload_json=payload_json if payload_json is not None else encoded_json(normalized.payload),
    )


def encoded_json(payload: Any) -> bytes:
    """A payload the adapter built (or changed) as JSON text."""
    try:
        return orjson.dumps(payload)
    except orjson.JSONEncodeError:
        # Integers past 64 bits (kept exact by the adapters): the standard library writes them.
        return json.dumps(payload, ensure_ascii=False).encode()
