"""Twitch EventSub (webhook transport): `Twitch-Eventsub-Message-Signature: sha256=<hex>`, an
HMAC-SHA256 of `message id + timestamp + raw body` keyed with the subscription's secret, with
`Twitch-Eventsub-Message-Id` and `Twitch-Eventsub-Message-Timestamp` (RFC 3339, within 10 minutes).

`Twitch-Eventsub-Message-Type` says what the body is: `webhook_callback_verification` is answered
200 with the raw `challenge` as text/plain (after the signature passed) and nothing is queued;
`notification` and `revocation` are events. The dedup key is the message id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    check_age,
    first_match,
    hmac_digest,
    json_object,
    parse_hex,
    require_header,
    require_method,
)

REPLAY_WINDOW_S = 600
# A retried message keeps its id; Twitch gives up well within an hour.
DEDUP_HORIZON_S = 3600
VERIFICATION = "webhook_callback_verification"


def parse_rfc3339(value: str) -> datetime:
    try:
        # fromisoformat keeps microseconds of Twitch's nanosecond timestamps.
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise Rejected(401, "malformed Twitch-Eventsub-Message-Timestamp") from exc
    if parsed.tzinfo is None:
        raise Rejected(401, "Twitch-Eventsub-Message-Timestamp has no time zone")
    return parsed


@dataclass(frozen=True)
class TwitchVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        signature = require_header(request, "twitch-eventsub-message-signature")
        message_id = require_header(request, "twitch-eventsub-message-id")
        timestamp = require_header(request, "twitch-eventsub-message-timestamp")
        message_type = require_header(request, "twitch-eventsub-message-type")
        scheme, _, hex_digest = signature.partition("=")
        if scheme.strip().lower() != "sha256" or not hex_digest:
            raise Rejected(401, "Twitch-Eventsub-Message-Signature must be sha256=<hex>")
        provided = parse_hex(hex_digest, "Twitch-Eventsub-Message-Signature")
        check_age(parse_rfc3339(timestamp).timestamp(), now, self.replay_window_s)
        signed = message_id.encode() + timestamp.encode() + request.body
        index = first_match(self.ring, now, lambda key: hmac_digest("sha256", key, signed), [provided])
        if index is None:
            raise bad_signature()
        if message_type == VERIFICATION:
            challenge = json_object(request).get("challenge")
            if not isinstance(challenge, str) or not challenge:
                raise Rejected(400, "verification request without a challenge")
            return Verified(secret_index=index, reply=Reply(200, challenge.encode(), "text/plain"))
        return Verified(delivery_key=message_id, secret_index=index)


def build(config: SourceConfig, ring: SecretRing) -> TwitchVerifier:
    Options.of(config, ())
    return TwitchVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
