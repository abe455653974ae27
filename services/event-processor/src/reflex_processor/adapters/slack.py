"""Slack, three shapes on one URL:

- Events API (JSON): `event_callback` wrappers are unwrapped to the inner event's type, qualified by
  its subtype ("app_mention", "message.message_changed"); `event_id` is the natural key.
- Interactivity (form, `payload=<JSON>`): typed by the payload's `type` ("block_actions",
  "view_submission"); the decoded payload is what is stored.
- Slash commands (form fields): "slash_command.<command>".

The deprecated verification `token` Slack still puts in every body is not stored.
"""

from __future__ import annotations

from typing import Any

from reflex_common.errors import InvalidMessage
from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    UNKNOWN_TYPE,
    Normalized,
    as_received,
    dig,
    dotted,
    from_unix,
    natural_key,
    parse_body,
    parse_json,
    ref,
    text,
    without,
)


def normalize(raw: RawEvent) -> Normalized:
    # As at the ingress, the signed body (not the unsigned Content-Type) says JSON or form.
    body = parse_json(raw.body) if raw.body.lstrip().startswith(b"{") else parse_body(raw)
    if not isinstance(body, dict):
        return Normalized(
            type=UNKNOWN_TYPE,
            occurred_at=None,
            delivery_key=None,
            entity=None,
            payload=body,
            payload_json=as_received(raw, body),
        )
    if isinstance(body.get("payload"), str):
        return _interaction(body)
    if "command" in body:
        return _slash_command(body)
    return _event(body)


def _event(body: dict[str, Any]) -> Normalized:
    event = body.get("event")
    if body.get("type") == "event_callback":
        event_type = dotted(dig(event, "type"), dig(event, "subtype"))
    else:
        event_type = dotted(body.get("type"))  # url_verification, app_rate_limited
    return Normalized(
        type=event_type,
        occurred_at=from_unix(body.get("event_time")) or from_unix(dig(event, "event_ts")),
        delivery_key=natural_key(body.get("event_id")),
        entity=_channel(event) or ref("team", body.get("team_id")),
        payload=without(body, "token"),
    )


def _interaction(body: dict[str, Any]) -> Normalized:
    try:
        payload = parse_json(body["payload"])
    except InvalidMessage:
        # Not what Slack sends; keep the form as it came rather than lose the event.
        payload = None
    if not isinstance(payload, dict):
        return Normalized(
            type=UNKNOWN_TYPE,
            occurred_at=None,
            delivery_key=None,
            entity=None,
            payload=without(body, "token"),
        )
    return Normalized(
        type=dotted(payload.get("type")),
        occurred_at=from_unix(dig(payload, "actions", 0, "action_ts")),
        delivery_key=natural_key(payload.get("trigger_id")),
        entity=ref("channel", dig(payload, "channel", "id")) or ref("team", dig(payload, "team", "id")),
        payload=without(payload, "token"),
    )


def _slash_command(body: dict[str, Any]) -> Normalized:
    command = text(body.get("command"))
    return Normalized(
        type=dotted("slash_command", command.lstrip("/") if command is not None else None),
        occurred_at=None,
        delivery_key=natural_key(body.get("trigger_id")),
        entity=ref("channel", body.get("channel_id")) or ref("team", body.get("team_id")),
        payload=without(body, "token"),
    )


def _channel(event: Any) -> str | None:
    """The channel an inner event happened in: `channel` (an id, or an object for channel_created and
    the like), or the channel of the reacted-to `item`."""
    channel = dig(event, "channel")
    if isinstance(channel, dict):
        channel = channel.get("id")
    return ref("channel", channel) or ref("channel", dig(event, "item", "channel"))
