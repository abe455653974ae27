"""The events stream's entries: a normalized domain event, as persisted in Postgres (not its payload).

Layout 2 (written now): one field, `e`, the event as a JSON object with its traceparent inside.
Layout 1 (still read, for entries written before an upgrade): `v` = "1", `event` = the JSON object,
`traceparent` beside it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reflex_common.errors import InvalidMessage
from reflex_common.schemas.fields import Fields

# The one field of a layout-2 entry.
EVENT_FIELD = "e"
LEGACY_VERSION = b"1"


class EventIdentity(Protocol):
    """What a forwarded entry says about an event: anything with these attributes can be forwarded."""

    @property
    def event_id(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def received_at(self) -> datetime: ...
    @property
    def delivery_key(self) -> str | None: ...
    @property
    def entity(self) -> str | None: ...


def event_fields(event: EventIdentity, traceparent: str | None) -> dict[str, bytes]:
    """The entry forwarded to the events stream (layout 2): identity, type, times and trace, no payload."""
    return {
        EVENT_FIELD: orjson.dumps(
            {
                "event_id": event.event_id,
                "source": event.source,
                "kind": event.kind,
                "type": event.type,
                "occurred_at": event.occurred_at,
                "received_at": event.received_at,
                "delivery_key": event.delivery_key,
                "entity": event.entity,
                "traceparent": traceparent,
            }
        )
    }


class DomainEvent(BaseModel):
    """A domain event as the events stream's readers validate it (the contract)."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    source: str
    kind: str
    # Dotted event type, e.g. "pull_request.opened"; "unknown" when the adapter cannot tell.
    type: str = Field(min_length=1, max_length=200)
    occurred_at: datetime
    received_at: datetime
    delivery_key: str | None = None
    # What the event concerns ("repo:octo/hello", "customer:cus_123"), if the adapter can tell.
    entity: str | None = None
    payload: Any = None
    # The W3C traceparent of the hop that forwarded it (read from the entry; not stored in Postgres).
    traceparent: str | None = Field(default=None, exclude=True)

    def to_fields(self, traceparent: str | None) -> dict[str, bytes]:
        return event_fields(self, traceparent)

    @classmethod
    def from_fields(cls, fields: Fields) -> DomainEvent:
        """Either layout; InvalidMessage when the entry is neither or does not validate."""
        legacy = EVENT_FIELD not in fields
        if legacy and fields.get("v") != LEGACY_VERSION:
            raise InvalidMessage(f"unknown domain event schema version {fields.get('v')!r}")
        encoded = fields.get("event" if legacy else EVENT_FIELD, b"")
        try:
            event = cls.model_validate_json(encoded)
        except ValidationError as exc:
            raise InvalidMessage(f"bad domain event: {exc.errors()[0]['msg']}") from exc
        if legacy and (traceparent := fields.get("traceparent")):
            event = event.model_copy(update={"traceparent": traceparent.decode(errors="replace")})
        return event


def utc_from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
