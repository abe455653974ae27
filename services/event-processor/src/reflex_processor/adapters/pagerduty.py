"""PagerDuty v3 webhooks: everything is under `event` (`event_type` "incident.triggered",
`occurred_at`, a unique `id`, and the `resource_type` its `data` is)."""

from __future__ import annotations

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    as_received,
    dig,
    dotted,
    from_iso,
    natural_key,
    parse_body,
    ref,
    text,
)


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    event = dig(body, "event")
    noun = text(dig(event, "resource_type")) or text(dig(event, "data", "type"))
    return Normalized(
        type=dotted(dig(event, "event_type")),
        occurred_at=from_iso(dig(event, "occurred_at")),
        delivery_key=natural_key(dig(event, "id")),
        entity=ref(noun, dig(event, "data", "id")) if noun is not None else None,
        payload=body,
        payload_json=as_received(raw, body),
    )
