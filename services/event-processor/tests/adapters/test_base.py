"""The helpers every adapter shares."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reflex_common.errors import InvalidMessage
from reflex_processor.adapters.base import (
    UNKNOWN_TYPE,
    dig,
    dotted,
    from_iso,
    from_unix,
    natural_key,
    parse_body,
    parse_json,
    ref,
    text,
)

from .conftest import FORM, raw_event


def test_form_bodies_with_nul_characters_cannot_be_stored() -> None:
    assert parse_body(raw_event("twilio", b"Body=hi&To=%2B1", content_type=FORM)) == {"Body": "hi", "To": "+1"}
    with pytest.raises(InvalidMessage, match="NUL"):
        parse_body(raw_event("twilio", b"Body=a%00b", content_type=FORM))


def test_parse_json_takes_text_and_bytes_alike() -> None:
    assert parse_json('{"a": [1]}') == parse_json(b'{"a": [1]}') == {"a": [1]}
    for bad in ("{oops", '{"a": "x\\u0000"}'):
        with pytest.raises(InvalidMessage):
            parse_json(bad)


def test_times_are_utc_and_only_from_what_can_be_one() -> None:
    assert from_unix(1715786433) == datetime(2024, 5, 15, 15, 20, 33, tzinfo=UTC)
    assert from_unix(1715786433000) == from_unix("1715786433") == from_unix(1715786433)
    assert from_unix(True) is None
    assert from_unix(10**400) is None
    assert from_iso("2011-12-12T14:27:31+02:00") == datetime(2011, 12, 12, 12, 27, 31, tzinfo=UTC)
    assert from_iso("2011-12-12T14:27:31+02:00").tzinfo is UTC  # type: ignore[union-attr]
    # Valid ISO-8601, but before the first instant a UTC datetime can hold.
    assert from_iso("0001-01-01T00:00:00+01:00") is None


def test_dig_follows_keys_and_list_positions() -> None:
    body = {"entry": [{"changes": [{"field": "feed"}]}, {"id": "last"}]}
    assert dig(body, "entry", 0, "changes", 0, "field") == "feed"
    assert dig(body, "entry", -1, "id") == "last"
    assert dig(body, "entry", 2) is None
    assert dig(body, "entry", "0") is None
    assert dig(body, "entry", 0, "changes", 0, "field", "deeper") is None


def test_text_dotted_ref_and_natural_key() -> None:
    assert text("a") == "a"
    assert text(42) == "42"
    assert [text(v) for v in ("", "  ", "a\x00b", True, 1.5, None, ["a"])] == [None] * 7
    assert dotted("pull_request", "opened") == "pull_request.opened"
    assert dotted(" push ", None, "", 3) == "push"
    assert dotted(42, "opened") == UNKNOWN_TYPE
    assert dotted(None, "opened") == UNKNOWN_TYPE
    assert ref("order", 450789469) == "order:450789469"
    assert ref("order", None) is None
    assert natural_key("evt_1") == "evt_1"
    assert natural_key("k" * 201) is None
