"""Zoom: `{"event": "meeting.started", "event_ts": <Unix ms>, "payload": {"object": {...}}}`; the
event's first word names what `payload.object` is."""

from __future__ import annotations

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, as_received, dig, dotted, from_unix, parse_body, ref, text


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    event = text(dig(body, "event"))
    noun = event.strip().partition(".")[0] if event is not None else ""
    return Normalized(
        type=dotted(event),
        occurred_at=from_unix(dig(body, "event_ts")),
        delivery_key=None,
        entity=ref(noun, dig(body, "payload", "object", "id")) if noun else None,
        payload=body,
        payload_json=as_received(raw, body),
    )
