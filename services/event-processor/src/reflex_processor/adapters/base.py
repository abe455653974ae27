"""What an adapter returns, and helpers adapters share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

from reflex_common.errors import InvalidMessage
from reflex_common.schemas import RawEvent

UNKNOWN_TYPE = "unknown"


@dataclass(frozen=True, slots=True)
class Normalized:
    # Dotted event type ("pull_request.opened"); UNKNOWN_TYPE when the adapter cannot tell.
    type: str
    # When the provider says the event happened; None = use the time we received it.
    occurred_at: datetime | None
    # The sender's natural dedup key, when the body carries it (the ingress may know it from headers).
    delivery_key: str | None
    # What the event concerns, e.g. "repo:octo/hello" or "customer:cus_123".
    entity: str | None
    # What is stored in events.payload (JSON-serializable).
    payload: Any


Adapter = Callable[[RawEvent], Normalized]


def parse_body(raw: RawEvent) -> Any:
    """The body as JSON, or as a dict of form fields for form-encoded kinds.

    Raises InvalidMessage when it is neither (the message can never be stored as it is)."""
    if raw.content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(raw.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise InvalidMessage("form body is not UTF-8") from exc
    if not raw.body.strip():
        return None
    try:
        value = orjson.loads(raw.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"body is not JSON: {exc}") from exc
    if b"\\u0000" in raw.body:
        # Postgres jsonb cannot hold NUL characters in strings.
        raise InvalidMessage("body contains a \\u0000 escape, which jsonb cannot store")
    return value


def from_unix(value: Any) -> datetime | None:
    """Unix seconds (int, float or numeric string; milliseconds if implausibly large) → UTC datetime."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number > 1e11:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: Any) -> datetime | None:
    """An ISO-8601 timestamp → aware datetime (naive ones are taken as UTC); None if unparseable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dig(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None where the path breaks."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
