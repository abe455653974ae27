"""Zoom: `x-zm-signature: v0=<hex HMAC-SHA256 of "v0:{x-zm-request-timestamp}:{raw body}">` keyed
with the app's secret token; the timestamp is Unix seconds, 300 s window.

`endpoint.url_validation` (signed too) is answered 200 with JSON
`{"plainToken": p, "encryptedToken": hex(HMAC-SHA256(secret, p))}`, using the secret whose
signature matched, and nothing is queued. Zoom sends no delivery id; the body carries the event
name and `event_ts` (ms) and a retry resends the same body, so the dedup key is the body's SHA-256.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import orjson

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    hmac_digest,
    json_object,
    require_method,
    secret_at,
    verify_v0_signature,
)

REPLAY_WINDOW_S = 300
# Zoom retries a failed delivery three times: after 5, 30 and 90 minutes.
DEDUP_HORIZON_S = 24 * 3600
URL_VALIDATION = "endpoint.url_validation"


@dataclass(frozen=True)
class ZoomVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        index = verify_v0_signature(
            request,
            self.ring,
            now,
            signature_header="x-zm-signature",
            timestamp_header="x-zm-request-timestamp",
            replay_window_s=self.replay_window_s,
        )
        payload = json_object(request)
        if payload.get("event") == URL_VALIDATION:
            inner = payload.get("payload")
            plain = inner.get("plainToken") if isinstance(inner, dict) else None
            if not isinstance(plain, str) or not plain:
                raise Rejected(400, "url_validation without payload.plainToken")
            encrypted = hmac_digest("sha256", secret_at(self.ring, now, index), plain.encode()).hex()
            body = orjson.dumps({"plainToken": plain, "encryptedToken": encrypted})
            return Verified(secret_index=index, reply=Reply(200, body, "application/json"))
        key = "sha256:" + hashlib.sha256(request.body).hexdigest()
        return Verified(delivery_key=key, secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> ZoomVerifier:
    Options.of(config, ())
    return ZoomVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
