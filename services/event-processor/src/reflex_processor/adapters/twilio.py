"""Twilio: form-encoded callbacks whose parameters say what they are about. The resource is the most
specific sid present (a transcription callback also carries its recording's and call's sids) and the
type is that resource and its status: "message.received", "message.delivered", "call.ringing",
"recording.completed". Conversations webhooks name themselves in `EventType` ("onMessageAdded")."""

from __future__ import annotations

from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, dig, dotted, in_utc, natural_key, parse_body, ref, text

# (resource, its sid parameter, its status parameters in order of preference), most specific first.
_RESOURCES = (
    ("transcription", "TranscriptionSid", ("TranscriptionStatus",)),
    ("recording", "RecordingSid", ("RecordingStatus",)),
    ("message", "MessageSid", ("MessageStatus", "SmsStatus")),
    ("message", "SmsSid", ("SmsStatus",)),
    ("call", "CallSid", ("CallStatus",)),
)


def normalize(raw: RawEvent) -> Normalized:
    params = parse_body(raw)
    for noun, sid_param, status_params in _RESOURCES:
        sid = text(dig(params, sid_param))
        status = next(filter(None, (text(dig(params, p)) for p in status_params)), None)
        if sid is not None and status is not None:
            event_type = dotted(noun, status)
            return Normalized(
                type=event_type,
                occurred_at=_rfc2822(dig(params, "Timestamp")) or _rfc2822(dig(params, "RecordingStartTime")),
                # An incoming message is delivered once per sid; status callbacks share their message's.
                delivery_key=natural_key(sid) if event_type == "message.received" else None,
                entity=ref(noun, sid),
                payload=params,
            )
    return Normalized(
        type=dotted(dig(params, "EventType")),
        occurred_at=None,
        delivery_key=None,
        entity=ref("conversation", dig(params, "ConversationSid")),
        payload=params,
    )


def _rfc2822(value: Any) -> datetime | None:
    """Twilio's "Mon, 16 Aug 2010 03:45:01 +0000" → UTC datetime; None if unparseable."""
    if not isinstance(value, str):
        return None
    try:
        return in_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError):
        return None
