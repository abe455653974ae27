"""`basic`: HTTP Basic authentication. Each secret is a `user:password` string; the decoded
credentials are compared in constant time against each. Option `delivery_key_header` names the
sender's delivery id, if it has one. The Authorization header never travels into the stream."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import OnLoop, body_bound_key, require_header, require_method, token_match

DEDUP_HORIZON_S = 24 * 3600


@dataclass(frozen=True)
class BasicVerifier(OnLoop):
    ring: SecretRing
    delivery_key_header: str | None = None
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        scheme, _, encoded = require_header(request, "authorization").partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise Rejected(401, "Authorization is not Basic")
        try:
            credentials = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Rejected(401, "Authorization Basic credentials are not base64") from exc
        index = token_match(self.ring, now, credentials)
        if index is None:
            raise Rejected(401, "credentials do not match")
        key = request.header(self.delivery_key_header) if self.delivery_key_header else None
        return Verified(delivery_key=body_bound_key(key, request.body), secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> BasicVerifier:
    options = Options.of(config, ("delivery_key_header",))
    for secret in ring.secrets:
        if b":" not in secret.value:
            raise ValueError(f"secret #{secret.index} is not user:password")
    key_header = options.text("delivery_key_header")
    return BasicVerifier(
        ring=ring,
        delivery_key_header=key_header.lower() if key_header else None,
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
