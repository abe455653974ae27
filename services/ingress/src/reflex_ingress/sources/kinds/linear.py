"""Linear: `Linear-Signature: <hex HMAC-SHA256 of the raw body>` keyed with the webhook's signing
secret. The send time is signed inside the body, `webhookTimestamp` (Unix ms), and must be within
the replay window (60 s by default, as Linear recommends). The dedup key is `Linear-Delivery` as it is,
once the signature passed: a retry re-signs the body with a new `webhookTimestamp`, so binding the
id to the body would store every retry again; a body replayed under another id dies in the window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    MAX_KEY_CHARS,
    OnLoop,
    bad_signature,
    body_key,
    check_age,
    first_match,
    hmac_digest,
    json_object,
    parse_hex,
    require_header,
    require_method,
)

REPLAY_WINDOW_S = 60
# Linear retries a failed delivery three times: after 1 minute, 1 hour and 6 hours.
DEDUP_HORIZON_S = 24 * 3600


@dataclass(frozen=True)
class LinearVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        provided = parse_hex(require_header(request, "linear-signature"), "Linear-Signature")
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, request.body), [provided])
        if index is None:
            raise bad_signature()
        sent_at_ms = json_object(request).get("webhookTimestamp")
        if isinstance(sent_at_ms, bool) or not isinstance(sent_at_ms, int | float):
            raise Rejected(401, "body has no numeric webhookTimestamp")
        check_age(sent_at_ms / 1000, now, self.replay_window_s)
        delivery = (request.header("linear-delivery") or "").strip()[:MAX_KEY_CHARS]
        return Verified(delivery_key=delivery or body_key(request.body), secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> LinearVerifier:
    Options.of(config, ())
    return LinearVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
