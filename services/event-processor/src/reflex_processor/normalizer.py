"""Raw webhook → domain event, through the adapter of the source's kind. Pure."""

from __future__ import annotations

from reflex_common.schemas import DomainEvent, RawEvent
from reflex_common.schemas.domain_event import utc_from_ms
from reflex_processor.adapters.registry import adapter_for


def normalize(raw: RawEvent) -> DomainEvent:
    """Raises InvalidMessage when the raw event can never become a domain event."""
    normalized = adapter_for(raw.kind)(raw)
    received_at = utc_from_ms(raw.received_at_ms)
    return DomainEvent(
        event_id=raw.event_id,
        source=raw.source,
        kind=raw.kind,
        type=normalized.type,
        occurred_at=normalized.occurred_at or received_at,
        received_at=received_at,
        # The ingress read the key from the provider's headers; the body's key is the fallback.
        delivery_key=raw.delivery_key or normalized.delivery_key,
        entity=normalized.entity,
        payload=normalized.payload,
    )
