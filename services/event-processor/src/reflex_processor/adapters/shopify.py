"""Shopify: the event is the `X-Shopify-Topic` header ("orders/create"); the body is the resource
itself (only `{"id": ...}` for deletions), so the topic names what the id is of."""

from __future__ import annotations

from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, as_received, dig, dotted, from_iso, parse_body, ref, text


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    topic = text(raw.headers.get("x-shopify-topic"))
    resource = _entity(topic, body)
    # The body's times are the event's only when the body is the topic's resource: the shop an
    # app/uninstalled carries was last updated whenever.
    occurred_at = (from_iso(dig(body, "updated_at")) or from_iso(dig(body, "created_at"))) if resource else None
    return Normalized(
        type=dotted(topic),
        occurred_at=occurred_at or from_iso(raw.headers.get("x-shopify-triggered-at")),
        delivery_key=None,
        entity=resource or ref("shop", raw.headers.get("x-shopify-shop-domain")),
        payload=body,
        payload_json=as_received(raw, body),
    )


def _entity(topic: str | None, body: Any) -> str | None:
    """The topic's collection, singular, and the body's id: "orders/create" about 450789469 →
    "order:450789469"; None when the topic is not about a collection (app/uninstalled, shop/update)
    or the body has no id (inventory_levels/update)."""
    resource = topic.partition("/")[0] if topic is not None else ""
    if not resource.endswith("s"):
        return None
    return ref(_singular(resource), dig(body, "id"))


def _singular(resource: str) -> str:
    """orders → order, companies → company, addresses → address (topic resources are plural)."""
    if resource.endswith("ies"):
        return resource[:-3] + "y"
    if resource.endswith(("sses", "shes", "ches", "xes")):
        return resource[:-2]
    return resource.removesuffix("s")
