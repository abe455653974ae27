"""Helpers to read typed values out of stream-entry fields (bytes keyed by str)."""

from __future__ import annotations

from collections.abc import Mapping

from reflex_common.errors import InvalidMessage

Fields = Mapping[str, bytes]


def text(fields: Fields, name: str, *, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None:
        if required:
            raise InvalidMessage(f"field {name!r} is missing")
        return None
    try:
        return value.decode()
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"field {name!r} is not UTF-8") from exc


def required_text(fields: Fields, name: str) -> str:
    value = text(fields, name)
    assert value is not None
    return value


def integer(fields: Fields, name: str) -> int:
    raw = required_text(fields, name)
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidMessage(f"field {name!r} is not an integer: {raw[:40]!r}") from exc
