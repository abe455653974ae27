"""Adapters by source kind; kinds without an adapter of their own use the generic one."""

from __future__ import annotations

from reflex_processor.adapters import (
    discord,
    generic,
    github,
    gitlab,
    linear,
    meta,
    msgraph,
    pagerduty,
    shopify,
    slack,
    sns,
    standard,
    stripe,
    twilio,
    twitch,
    zoom,
)
from reflex_processor.adapters.base import Adapter

ADAPTERS: dict[str, Adapter] = {
    "discord": discord.normalize,
    "github": github.normalize,
    "gitlab": gitlab.normalize,
    "linear": linear.normalize,
    "meta": meta.normalize,
    "msgraph": msgraph.normalize,
    "pagerduty": pagerduty.normalize,
    "shopify": shopify.normalize,
    "slack": slack.normalize,
    "sns": sns.normalize,
    "standard": standard.normalize,
    "stripe": stripe.normalize,
    "twilio": twilio.normalize,
    "twitch": twitch.normalize,
    "zoom": zoom.normalize,
}


def adapter_for(kind: str) -> Adapter:
    return ADAPTERS.get(kind, generic.normalize)
