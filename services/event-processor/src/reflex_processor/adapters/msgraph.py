"""Microsoft Graph change notifications: a batch `{"value": [...]}` of notifications, typed by the
first one as "<resource collection>.<changeType>" ("messages.created" for "Users/{id}/Messages/{id}"),
or by its `lifecycleEvent` ("reauthorizationRequired"). The subscription's `clientState` (a shared
secret) is not stored."""

from __future__ import annotations

import re

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    dig,
    dotted,
    natural_key,
    parse_body,
    ref,
    text,
    without,
)

_NAME = re.compile(r"[A-Za-z]+")


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    notifications = dig(body, "value")
    if not isinstance(notifications, list):
        notifications = []
    first = dig(notifications, 0)
    lifecycle_event = text(dig(first, "lifecycleEvent"))
    resource = text(dig(first, "resource"))
    if lifecycle_event is not None:
        event_type = dotted(lifecycle_event)
    else:
        event_type = dotted(_collection(resource), dig(first, "changeType"))
    if notifications:
        body = {**body, "value": [without(item, "clientState") for item in notifications]}
    return Normalized(
        type=event_type,
        occurred_at=None,
        # A notification's id is optional, and only keys the delivery when it is the only one.
        delivery_key=natural_key(dig(first, "id")) if len(notifications) == 1 else None,
        entity=resource or ref("subscription", dig(first, "subscriptionId")),
        payload=body,
    )


def _collection(resource: str | None) -> str | None:
    """The last collection named in a resource path: "Users/{id}/Messages/{id}" → "messages",
    "me/mailFolders('Inbox')/messages" → "messages", "communications/presences" → "presences"."""
    if resource is None:
        return None
    segments = [segment.partition("(")[0] for segment in resource.partition("?")[0].split("/")]
    name = next((segment for segment in reversed(segments) if _NAME.fullmatch(segment)), None)
    return name[0].lower() + name[1:] if name is not None else None
