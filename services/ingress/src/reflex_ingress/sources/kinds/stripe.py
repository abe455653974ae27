"""Stripe: `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]`, each v1 an HMAC-SHA256 of
`{t}.{raw body}` keyed with the endpoint secret (`whsec_...`, used as it is). Several v1 entries
appear while Stripe rolls a secret; `v0` entries (test mode legacy) are ignored. The dedup key is
the event `id` in the body."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    check_timestamp,
    first_match,
    hmac_digest,
    json_object,
    require_header,
    require_method,
    text_field,
)

REPLAY_WINDOW_S = 300
# Stripe retries a failed live-mode delivery for up to three days.
DEDUP_HORIZON_S = 3 * 24 * 3600


def _parse(header: str) -> tuple[str | None, list[bytes]]:
    timestamp: str | None = None
    signatures: list[bytes] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t" and timestamp is None:
            timestamp = value.strip()
        elif name == "v1":
            try:
                signatures.append(bytes.fromhex(value.strip()))
            except ValueError:
                continue  # a malformed entry matches nothing; another may still pass
    return timestamp, signatures


@dataclass(frozen=True)
class StripeVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        timestamp, signatures = _parse(require_header(request, "stripe-signature"))
        if not timestamp:
            raise Rejected(401, "Stripe-Signature has no t= timestamp")
        if not signatures:
            raise Rejected(401, "Stripe-Signature has no v1= signature")
        check_timestamp(timestamp, now, self.replay_window_s)
        signed = timestamp.encode() + b"." + request.body
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, signed), signatures)
        if index is None:
            raise bad_signature()
        return Verified(delivery_key=text_field(json_object(request), "id"), secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> StripeVerifier:
    Options.of(config, ())
    return StripeVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
