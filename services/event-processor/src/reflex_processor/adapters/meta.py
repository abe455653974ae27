"""Meta Graph API webhooks (Facebook pages, Instagram, WhatsApp, Messenger): `object` ("page",
"whatsapp_business_account") with batched `entry[]`, each either `changes[]` naming a subscribed
`field` ("page.feed", "whatsapp_business_account.messages") or Messenger `messaging[]` items, typed by
the field they are subscribed under ("page.messages", "page.messaging_postbacks"). Batches are typed
and timed by their first entry."""

from __future__ import annotations

from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, as_received, dig, dotted, from_unix, parse_body, ref, text

# A Messenger item's key → the webhook field it is delivered under.
_MESSAGING_FIELDS = {
    "message": "messages",
    "postback": "messaging_postbacks",
    "delivery": "message_deliveries",
    "read": "message_reads",
    "reaction": "message_reactions",
    "optin": "messaging_optins",
    "referral": "messaging_referrals",
}


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    entry = dig(body, "entry", 0)
    change_value = dig(entry, "changes", 0, "value")
    subject = text(dig(body, "object"))
    return Normalized(
        type=dotted(subject, _field(entry)),
        occurred_at=(
            from_unix(dig(entry, "time"))
            or from_unix(dig(entry, "messaging", 0, "timestamp"))
            or from_unix(dig(change_value, "messages", 0, "timestamp"))
            or from_unix(dig(change_value, "statuses", 0, "timestamp"))
        ),
        delivery_key=None,
        entity=ref(subject.strip(), dig(entry, "id")) if subject is not None else None,
        payload=body,
        payload_json=as_received(raw, body),
    )


def _field(entry: Any) -> str | None:
    field = text(dig(entry, "changes", 0, "field"))
    if field is not None:
        return field
    item = dig(entry, "messaging", 0)
    if not isinstance(item, dict):
        return None
    return next((name for key, name in _MESSAGING_FIELDS.items() if key in item), "messaging")
