"""What the processor makes of one raw entry: the `events` row it stores and the identity it forwards.
A plain slots class: it is built from values the adapters and RawEvent have already checked, once
per event, on the hot path (the events stream's readers validate what they read: DomainEvent)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)  # not frozen: built once per event, a frozen __init__ costs a setattr per field
class StoredEvent:
    event_id: str
    source: str
    kind: str
    type: str
    occurred_at: datetime
    received_at: datetime
    received_at_ms: int
    delivery_key: str | None
    entity: str | None
    # The payload as the adapter read it (for callers that look into it; the store does not).
    payload: Any
    # events.payload as JSON text: the body as it arrived when the adapter stored it unchanged.
    payload_json: bytes
