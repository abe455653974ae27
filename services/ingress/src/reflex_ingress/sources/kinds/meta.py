"""Meta (Facebook, Instagram, WhatsApp Cloud API): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256
of the raw body>` keyed with the app secret.

Subscribing, Meta proves the endpoint with a GET `hub.mode=subscribe&hub.verify_token=...&
hub.challenge=...`: answered 200 with the challenge as text/plain when the token equals option
`verify_token` (a literal, `env:VAR` or `file:PATH`, like secrets), else 403; nothing is queued.
Meta sends no delivery id and retries the same body, so the dedup key is the body's SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from reflex_common.errors import ConfigError
from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import Secret, SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    first_match,
    hmac_digest,
    parse_hex,
    require_header,
    require_method,
)

# Meta retries a failed delivery with decreasing frequency for up to 36 hours.
DEDUP_HORIZON_S = 48 * 3600


@dataclass(frozen=True)
class MetaVerifier(OnLoop):
    ring: SecretRing
    # The subscription handshake token; None answers every GET challenge 403.
    verify_token: Secret | None = None
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "GET", "POST")
        if request.method.upper() == "GET":
            return Verified(reply=self._challenge(request))
        signature = require_header(request, "x-hub-signature-256")
        scheme, _, hex_digest = signature.partition("=")
        if scheme.strip().lower() != "sha256" or not hex_digest:
            raise Rejected(401, "X-Hub-Signature-256 must be sha256=<hex>")
        provided = parse_hex(hex_digest, "X-Hub-Signature-256")
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, request.body), [provided])
        if index is None:
            raise bad_signature()
        return Verified(delivery_key="sha256:" + hashlib.sha256(request.body).hexdigest(), secret_index=index)

    def _challenge(self, request: WebhookRequest) -> Reply:
        mode = request.query.get("hub.mode")
        token = request.query.get("hub.verify_token", "")
        challenge = request.query.get("hub.challenge", "")
        if mode != "subscribe" or not challenge or self.verify_token is None:
            raise Rejected(403, "not a valid subscription challenge")
        secret = self.verify_token.value
        if not secret or not token:  # a revoked (emptied) verify token matches nothing, not ""
            raise Rejected(403, "verify token does not match")
        expected = hashlib.sha256(secret).digest()
        if not hmac.compare_digest(expected, hashlib.sha256(token.encode()).digest()):
            raise Rejected(403, "verify token does not match")
        return Reply(200, challenge.encode(), "text/plain")


def build(config: SourceConfig, ring: SecretRing) -> MetaVerifier:
    options = Options.of(config, ("verify_token",))
    ref = options.text("verify_token")
    verify_token = None
    if ref is not None:
        try:
            verify_token = Secret.resolve(0, ref, None, config.name)
        except ConfigError as exc:
            raise ValueError(f"option verify_token cannot be resolved ({exc})") from exc
    return MetaVerifier(ring=ring, verify_token=verify_token, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
