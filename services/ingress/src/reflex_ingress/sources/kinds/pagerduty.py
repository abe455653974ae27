"""PagerDuty (v3 webhooks): `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`, each an HMAC-SHA256
of the raw body keyed with a subscription's secret (several while a secret is rotated). No
timestamp is signed. The dedup key is the body's `event.id`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    first_match,
    hmac_digest,
    json_object,
    require_header,
    require_method,
    text_field,
)

DEDUP_HORIZON_S = 24 * 3600


def _signatures(header: str) -> list[bytes]:
    signatures: list[bytes] = []
    for item in header.split(","):
        version, _, hex_digest = item.strip().partition("=")
        if version.strip() != "v1":
            continue
        try:
            signatures.append(bytes.fromhex(hex_digest.strip()))
        except ValueError:
            continue  # matches nothing; another entry may still pass
    return signatures


@dataclass(frozen=True)
class PagerDutyVerifier(OnLoop):
    ring: SecretRing
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        signatures = _signatures(require_header(request, "x-pagerduty-signature"))
        if not signatures:
            raise Rejected(401, "X-PagerDuty-Signature has no v1=<hex> signature")
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, request.body), signatures)
        if index is None:
            raise bad_signature()
        event = json_object(request).get("event")
        key = text_field(event, "id") if isinstance(event, dict) else None
        return Verified(delivery_key=key, secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> PagerDutyVerifier:
    Options.of(config, ())
    return PagerDutyVerifier(ring=ring, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
