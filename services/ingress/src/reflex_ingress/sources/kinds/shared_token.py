"""`token`: a shared token in a header, compared in constant time against each secret.

Options: `header` (required, e.g. `Authorization` or `X-Webhook-Token`); `prefix` (optional,
e.g. `Bearer `, matched case-insensitively and removed with surrounding spaces);
`delivery_key_header` (optional, the sender's delivery id). No timestamp is signed, so the dedup
horizon is the only replay defence, and the token itself never travels into the stream when its
header is named like a credential (the handler drops authorization/token/secret headers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import OnLoop, body_bound_key, require_header, require_method, token_match

DEDUP_HORIZON_S = 24 * 3600


@dataclass(frozen=True)
class TokenVerifier(OnLoop):
    ring: SecretRing
    header: str
    prefix: str = ""
    delivery_key_header: str | None = None
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        value = require_header(request, self.header)
        if self.prefix:
            if not value.lower().startswith(self.prefix.lower()):
                raise Rejected(401, f"{self.header} does not start with the expected scheme")
            value = value[len(self.prefix) :].strip()
        index = token_match(self.ring, now, value.encode())
        if index is None:
            raise Rejected(401, f"{self.header} does not match")
        key = request.header(self.delivery_key_header) if self.delivery_key_header else None
        return Verified(
            delivery_key=body_bound_key(key, request.body),
            secret_index=index,
            secret_headers=frozenset({self.header.lower()}),
        )


def build(config: SourceConfig, ring: SecretRing) -> TokenVerifier:
    options = Options.of(config, ("header", "prefix", "delivery_key_header"))
    key_header = options.text("delivery_key_header")
    return TokenVerifier(
        ring=ring,
        header=options.required_text("header").lower(),
        prefix=options.text("prefix", "") or "",
        delivery_key_header=key_header.lower() if key_header else None,
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
