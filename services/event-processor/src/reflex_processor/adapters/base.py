"""What an adapter returns, and helpers adapters share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import orjson

from reflex_common.errors import InvalidMessage
from reflex_common.schemas import RawEvent
from reflex_common.schemas.json_body import MAX_JSON_DEPTH, nested_too_deep

UNKNOWN_TYPE = "unknown"
# DomainEvent.type is at most this long.
MAX_TYPE_CHARS = 200
# Longer "natural keys" are not taken as one: the unique index on delivery_key must stay small.
MAX_KEY_CHARS = 200


@dataclass(slots=True)  # not frozen: built once per event, a frozen __init__ costs a setattr per field
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
    # The payload's JSON text when it is the body exactly as received (see `as_received`): stored as
    # it is, jsonb parses it. None: `payload` is encoded.
    payload_json: bytes | None = None


Adapter = Callable[[RawEvent], Normalized]


FORM = "application/x-www-form-urlencoded"


def parse_body(raw: RawEvent) -> Any:
    """The body as JSON, or as a dict of form fields for form-encoded kinds.

    Raises InvalidMessage when it is neither (the message can never be stored as it is)."""
    if raw.content_type == FORM:
        try:
            fields = dict(parse_qsl(raw.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise InvalidMessage("form body is not UTF-8") from exc
        if any("\x00" in name or "\x00" in value for name, value in fields.items()):
            raise InvalidMessage("form body contains a NUL character, which jsonb cannot store")
        return fields
    if not raw.body.strip():
        return None
    return parse_json(raw.body)


def as_received(raw: RawEvent, body: Any) -> bytes | None:
    """The body's text, for `Normalized.payload_json`, when `body` is what parse_body(raw) made of a
    JSON body and the adapter stores it unchanged: the text orjson accepted (UTF-8, no NUL escape,
    not too deep) is text jsonb accepts, and it keeps every number exactly as sent."""
    return raw.body if body is not None and raw.content_type != FORM else None


# msgspec keeps integers of any size exact (Postgres numeric, in jsonb, does too), where orjson reads
# those past 64 bits as floats: no second, exact parse, and no scan of every body for long digit runs.
_DECODER = msgspec.json.Decoder()


def parse_json(data: bytes | str) -> Any:
    """JSON that Postgres can store as jsonb; InvalidMessage otherwise."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        value = _DECODER.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidMessage(f"body is not JSON: {exc}") from exc
    except RecursionError:
        value = _TOO_DEEP
    if value is _TOO_DEEP or _too_deep(raw, value):
        raise InvalidMessage(f"body nests deeper than {MAX_JSON_DEPTH} levels, more than the store takes")
    # Postgres jsonb cannot hold NUL characters in strings. The bytes only hint at one (the text
    # "\\u0000", an escaped backslash, is fine): look at the decoded value.
    if b"\\u0000" in raw and _has_nul(value):
        raise InvalidMessage("body contains a NUL character (\\u0000), which jsonb cannot store")
    return value


_TOO_DEEP = object()


def _too_deep(raw: bytes, value: Any) -> bool:
    """nested_too_deep, free unless the body has that many brackets. orjson's encoder, which measures
    the depth, cannot take integers past 64 bits: then it measures orjson's own reading (floats)."""
    if not nested_too_deep(raw, value):
        return False
    try:
        return nested_too_deep(raw, orjson.loads(raw))
    except orjson.JSONDecodeError:
        return True  # orjson refuses it only by its depth: msgspec read it


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in k or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def from_unix(value: Any) -> datetime | None:
    """Unix seconds (int, float or numeric string; milliseconds if implausibly large) → UTC datetime."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if number > 1e11:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(value: Any) -> datetime | None:
    """An ISO-8601 timestamp → UTC datetime (naive ones are taken as UTC); None if unparseable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return in_utc(parsed)


def in_utc(value: datetime) -> datetime | None:
    """The same instant in UTC (naive values are taken as UTC); None when it falls outside the years
    datetime can hold (0001-01-01T00:00+01:00 has no UTC equivalent)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def dig(value: Any, *path: str | int) -> Any:
    """value[path[0]][path[1]]..., or None where the path breaks (ints index lists, -1 is the last)."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or not -len(value) <= key < len(value):
                return None
            value = value[key]
        elif isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def text(value: Any) -> str | None:
    """A non-blank string Postgres can store (no NUL), or an integer (not a bool) as a string; None
    for anything else."""
    if isinstance(value, str):
        return value if value.strip() and "\x00" not in value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def dotted(name: Any, *qualifiers: Any) -> str:
    """The event type "name.qualifier...": qualifiers that are not text strings are left out;
    UNKNOWN_TYPE when the name itself is not one. Cut to MAX_TYPE_CHARS."""
    words = [text(part) if isinstance(part, str) else None for part in (name, *qualifiers)]
    if words[0] is None:
        return UNKNOWN_TYPE
    return ".".join(word.strip() for word in words if word is not None)[:MAX_TYPE_CHARS]


def ref(noun: str, value: Any) -> str | None:
    """An entity reference "noun:value", or None when the value is not text."""
    name = text(value)
    return f"{noun}:{name}" if name is not None else None


def without(body: Any, *keys: str) -> Any:
    """A dict body without the given keys (credentials the provider puts in the body); others as they are."""
    if not isinstance(body, dict):
        return body
    return {key: value for key, value in body.items() if key not in keys}


def natural_key(value: Any) -> str | None:
    """A body field as a delivery key: text of at most MAX_KEY_CHARS, else None."""
    key = text(value)
    return key if key is not None and len(key) <= MAX_KEY_CHARS else None
