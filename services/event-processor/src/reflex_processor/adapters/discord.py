"""Discord, two kinds of HTTP callbacks:

- Interactions: typed by the interaction type ("application_command.<name>", "message_component",
  "modal_submit", "ping"); the interaction `id` is a snowflake, so it is both the natural key and the
  time it was created. Its `token` (a credential for answering the interaction) is not stored.
- Webhook events (`{"type": 1, "event": {...}}`): typed by `event.type` ("APPLICATION_AUTHORIZED").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    as_received,
    dig,
    dotted,
    from_iso,
    from_unix,
    natural_key,
    parse_body,
    ref,
    text,
    without,
)

# Interaction types; 0 is the PING of webhook events, whose events come as type 1 with an `event`.
_INTERACTION_TYPES = {
    0: "ping",
    1: "ping",
    2: "application_command",
    3: "message_component",
    4: "application_command_autocomplete",
    5: "modal_submit",
}
# Interactions that name a command in data.name (a small set, fixed by the application).
_COMMAND_TYPES = (2, 4)
# Snowflakes count milliseconds from the first second of 2015.
_DISCORD_EPOCH_MS = 1_420_070_400_000


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    event = dig(body, "event")
    if isinstance(event, dict):
        return Normalized(
            type=dotted(event.get("type")),
            occurred_at=from_iso(event.get("timestamp")),
            delivery_key=None,
            entity=ref("user", dig(event, "data", "user", "id")),
            payload=body,
            payload_json=as_received(raw, body),
        )
    code = dig(body, "type")
    is_code = type(code) is int  # not a bool or a float that happens to equal one
    command = dig(body, "data", "name") if is_code and code in _COMMAND_TYPES else None
    return Normalized(
        type=dotted(_INTERACTION_TYPES.get(code) if is_code else None, command),
        occurred_at=_snowflake_time(dig(body, "id")),
        delivery_key=natural_key(dig(body, "id")),
        entity=ref("channel", dig(body, "channel_id")) or ref("guild", dig(body, "guild_id")),
        payload=without(body, "token"),
    )


def _snowflake_time(value: Any) -> datetime | None:
    snowflake = text(value)
    if snowflake is None:
        return None
    try:
        created_ms = (int(snowflake) >> 22) + _DISCORD_EPOCH_MS
    except ValueError:
        return None
    return from_unix(created_ms)
