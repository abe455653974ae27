"""Standard Webhooks (Svix and the senders built on it): `{"type": "user.created", "timestamp":
ISO-8601, "data": {...}}`; the message id is the `webhook-id` header (the ingress's)."""

from __future__ import annotations

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, as_received, dig, dotted, from_iso, parse_body, ref, text


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    event_type = text(dig(body, "type"))
    # By convention the type's first word names what data.id is of: "invoice.paid" → invoice.
    noun = event_type.strip().partition(".")[0] if event_type is not None else ""
    return Normalized(
        type=dotted(event_type),
        occurred_at=from_iso(dig(body, "timestamp")),
        delivery_key=None,
        entity=ref(noun, dig(body, "data", "id")) if noun else None,
        payload=body,
        payload_json=as_received(raw, body),
    )
