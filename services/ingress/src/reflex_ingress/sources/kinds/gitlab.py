"""GitLab: `X-Gitlab-Token` carries the hook's secret token as it is (no signature); it is
compared in constant time against each configured secret. The delivery key is
`X-Gitlab-Event-UUID`, else `Idempotency-Key` (the same on GitLab's retries). The token header
never travels into the stream (the handler drops every header named like a token)."""

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
class GitLabVerifier(OnLoop):
    ring: SecretRing
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        token = require_header(request, "x-gitlab-token")
        index = token_match(self.ring, now, token.encode())
        if index is None:
            raise Rejected(401, "X-Gitlab-Token does not match")
        key = request.header("x-gitlab-event-uuid") or request.header("idempotency-key")
        return Verified(delivery_key=body_bound_key(key, request.body), secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> GitLabVerifier:
    Options.of(config, ())
    return GitLabVerifier(ring=ring, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
