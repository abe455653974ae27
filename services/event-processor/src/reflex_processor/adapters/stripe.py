"""Stripe: the body is an Event (`type` "invoice.paid", `created` in Unix seconds, `id` "evt_...")
about `data.object`. Thin events (v2) name their object in `related_object` and give `created` in ISO."""

from __future__ import annotations

from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    as_received,
    dig,
    dotted,
    from_iso,
    from_unix,
    natural_key,
    parse_body,
    ref,
    text,
)


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    created = dig(body, "created")
    return Normalized(
        type=dotted(dig(body, "type")),
        occurred_at=from_unix(created) if isinstance(created, int | float) else from_iso(created),
        delivery_key=natural_key(dig(body, "id")),
        entity=_entity(body),
        payload=body,
        payload_json=as_received(raw, body),
    )


def _entity(body: Any) -> str | None:
    """`<object>:<id>` of the event's object: "invoice:in_1", "customer:cus_123"."""
    snapshot = dig(body, "data", "object")
    noun = text(dig(snapshot, "object"))
    if noun is not None:
        return ref(noun, dig(snapshot, "id"))
    related = dig(body, "related_object")
    noun = text(dig(related, "type"))
    return ref(noun, dig(related, "id")) if noun is not None else None
