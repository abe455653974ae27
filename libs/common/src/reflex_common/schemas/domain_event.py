"""The events stream's entries: a normalized domain event, as persisted in Postgres."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reflex_common.errors import InvalidMessage
from reflex_common.schemas.fields import Fields

SCHEMA_VERSION = b"1"


class DomainEvent(BaseModel):
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

    def to_fields(self, traceparent: str | None) -> dict[str, bytes]:
        """The entry forwarded to the events stream: identity, type and times, not the payload."""
        fields = {
            "v": SCHEMA_VERSION,
            "event": orjson.dumps(self.model_dump(mode="json", exclude={"payload"})),
        }
        if traceparent:
            fields["traceparent"] = traceparent.encode()
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> DomainEvent:
        if fields.get("v") != SCHEMA_VERSION:
            raise InvalidMessage(f"unknown domain event schema version {fields.get('v')!r}")
        try:
            return cls.model_validate_json(fields.get("event", b""))
        except ValidationError as exc:
            raise InvalidMessage(f"bad domain event: {exc.errors()[0]['msg']}") from exc


def utc_from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
