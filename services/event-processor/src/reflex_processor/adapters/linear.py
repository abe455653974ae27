"""Linear: `type` is the model ("Issue", "Comment", "IssueLabel"), `action` what happened to it
("create", "update", "remove"): "Issue.create". `createdAt` is when the action took place."""

from __future__ import annotations

import re
from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    as_received,
    dig,
    dotted,
    from_iso,
    from_unix,
    parse_body,
    ref,
    text,
)

_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    return Normalized(
        type=dotted(dig(body, "type"), dig(body, "action")),
        occurred_at=from_iso(dig(body, "createdAt")) or from_unix(dig(body, "webhookTimestamp")),
        delivery_key=None,
        entity=_entity(body),
        payload=body,
        payload_json=as_received(raw, body),
    )


def _entity(body: Any) -> str | None:
    """The model in snake case and the object's identifier ("issue:ENG-123") or id ("issue_label:<id>")."""
    model = text(dig(body, "type"))
    if model is None:
        return None
    noun = _WORD_START.sub("_", model.strip()).lower()
    return ref(noun, dig(body, "data", "identifier")) or ref(noun, dig(body, "data", "id"))
