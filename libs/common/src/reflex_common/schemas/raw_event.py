"""The raw stream's entries: a verified webhook exactly as received."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from reflex_common.errors import InvalidMessage
from reflex_common.schemas.fields import Fields, integer, required_text, text

SCHEMA_VERSION = b"1"


@dataclass(frozen=True, slots=True)
class RawEvent:
    event_id: str
    source: str
    kind: str
    received_at_ms: int
    body: bytes
    # Headers the adapters may need (lower-cased names), never the signature headers' secrets.
    headers: dict[str, str]
    content_type: str = "application/json"
    # The sender's natural dedup key (GitHub's X-GitHub-Delivery, Stripe's id, ...), if any.
    delivery_key: str | None = None
    traceparent: str | None = None

    def to_fields(self) -> dict[str, bytes]:
        fields = {
            "v": SCHEMA_VERSION,
            "event_id": self.event_id.encode(),
            "source": self.source.encode(),
            "kind": self.kind.encode(),
            "received_at_ms": str(self.received_at_ms).encode(),
            "content_type": self.content_type.encode(),
            "headers": orjson.dumps(self.headers),
            "body": self.body,
        }
        if self.delivery_key is not None:
            fields["delivery_key"] = self.delivery_key.encode()
        if self.traceparent is not None:
            fields["traceparent"] = self.traceparent.encode()
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> RawEvent:
        if fields.get("v") != SCHEMA_VERSION:
            raise InvalidMessage(f"unknown raw event schema version {fields.get('v')!r}")
        body = fields.get("body")
        if body is None:
            raise InvalidMessage("field 'body' is missing")
        try:
            headers = orjson.loads(fields.get("headers", b"{}"))
        except orjson.JSONDecodeError as exc:
            raise InvalidMessage("field 'headers' is not JSON") from exc
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise InvalidMessage("field 'headers' is not an object of strings")
        return cls(
            event_id=required_text(fields, "event_id"),
            source=required_text(fields, "source"),
            kind=required_text(fields, "kind"),
            received_at_ms=integer(fields, "received_at_ms"),
            body=body,
            headers=headers,
            content_type=text(fields, "content_type", required=False) or "application/json",
            delivery_key=text(fields, "delivery_key", required=False),
            traceparent=text(fields, "traceparent", required=False),
        )
