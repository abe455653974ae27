"""Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the raw body>` keyed with the app's
client secret. The delivery id is `X-Shopify-Webhook-Id` (the same on every retry), the event name
`X-Shopify-Topic`. Shopify signs no timestamp (`X-Shopify-Triggered-At` is unsigned), so the
dedup horizon is the only replay defence: keep it at least as long as Shopify retries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    body_bound_key,
    first_match,
    hmac_digest,
    parse_base64,
    require_header,
    require_method,
)

# Shopify retries a failed delivery up to 19 times over 48 hours.
DEDUP_HORIZON_S = 48 * 3600


@dataclass(frozen=True)
class ShopifyVerifier(OnLoop):
    ring: SecretRing
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        provided = parse_base64(require_header(request, "x-shopify-hmac-sha256"), "X-Shopify-Hmac-Sha256")
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, request.body), [provided])
        if index is None:
            raise bad_signature()
        return Verified(
            delivery_key=body_bound_key(request.header("x-shopify-webhook-id"), request.body), secret_index=index
        )


def build(config: SourceConfig, ring: SecretRing) -> ShopifyVerifier:
    Options.of(config, ())
    return ShopifyVerifier(ring=ring, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
