"""GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`; the delivery id is
`X-GitHub-Delivery`, the event name `X-GitHub-Event`.

Bodies are JSON, or form-encoded `payload=<JSON>` when the hook's content type says so: the
signature covers the raw bytes either way. A form body must hold that one `payload` field, itself
JSON the store takes (400 otherwise): anything else would be stored as a meaningless form.
"""

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
    body_bound_key,
    check_json,
    first_match,
    hmac_digest,
    is_form,
    parse_form,
    parse_hex,
    require_header,
    require_method,
)

# GitHub retries failed deliveries only when asked to (redelivery) — keep keys for a day.
DEDUP_HORIZON_S = 24 * 3600
# A form body is the one `payload` field; a few more parameters are tolerated, never thousands.
MAX_FORM_PARAMS = 16


@dataclass(frozen=True)
class GitHubVerifier(OnLoop):
    ring: SecretRing
    header: str = "x-hub-signature-256"
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        signature = require_header(request, self.header)
        scheme, _, hex_digest = signature.partition("=")
        if scheme.strip().lower() != "sha256" or not hex_digest:
            raise Rejected(401, f"{self.header} must be sha256=<hex>")
        provided = parse_hex(hex_digest, self.header)
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, request.body), [provided])
        if index is None:
            raise bad_signature()
        if is_form(request):
            payloads = [value for name, value in parse_form(request.body, MAX_FORM_PARAMS) if name == "payload"]
            if len(payloads) != 1:
                raise Rejected(400, "form body must hold one payload field")
            check_json(payloads[0].encode())
        return Verified(
            delivery_key=body_bound_key(request.header("x-github-delivery"), request.body), secret_index=index
        )


def build(config: SourceConfig, ring: SecretRing) -> GitHubVerifier:
    Options.of(config, ())
    return GitHubVerifier(ring=ring, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
