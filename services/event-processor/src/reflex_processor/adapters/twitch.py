"""Twitch EventSub over webhooks: a notification is typed by its `subscription.type`
("channel.follow"); revocations and callback verifications by the `Twitch-Eventsub-Message-Type`
header and the subscription ("revocation.channel.follow"). The message id is a header (the ingress's)."""

from __future__ import annotations

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, as_received, dig, dotted, from_iso, parse_body, ref

# When the event happened, by the event's field for it (an end before its start).
_TIME_FIELDS = ("ended_at", "followed_at", "banned_at", "redeemed_at", "started_at", "created_at")


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    subscription_type = dig(body, "subscription", "type")
    message_type = raw.headers.get("twitch-eventsub-message-type", "notification")
    if message_type == "notification":
        event_type = dotted(subscription_type)
    else:
        event_type = dotted(message_type, subscription_type)
    event = dig(body, "event")
    return Normalized(
        type=event_type,
        occurred_at=next(
            filter(None, (from_iso(dig(event, field)) for field in _TIME_FIELDS)),
            # Events without a time of their own (raids, cheers, subscriptions): when Twitch sent it.
            from_iso(raw.headers.get("twitch-eventsub-message-timestamp")),
        ),
        delivery_key=None,
        entity=(
            ref("channel", dig(event, "broadcaster_user_id"))
            or ref("channel", dig(body, "subscription", "condition", "broadcaster_user_id"))
            or ref("user", dig(event, "user_id"))
        ),
        payload=body,
        payload_json=as_received(raw, body),
    )
