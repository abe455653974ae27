"""Discord interactions: `X-Signature-Ed25519: <hex Ed25519 signature>` of
`X-Signature-Timestamp + raw body`, checked with the application's public key (the secret is that
key in hex: it need not be secret, but it is configured like one). The timestamp is Unix seconds.

A PING (body `type` 1) is answered 200 with JSON `{"type": 1}` and nothing is queued; Discord
also sends deliberately bad signatures when the URL is saved, which must (and do) get a 401.
The dedup key is the interaction `id`.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    check_timestamp,
    json_object,
    parse_hex,
    require_header,
    require_method,
    text_field,
)

REPLAY_WINDOW_S = 300
# Discord does not retry interactions; an hour covers a replay inside the window with margin.
DEDUP_HORIZON_S = 3600
PING = 1
PONG = b'{"type":1}'


def public_key(secret: bytes) -> Ed25519PublicKey | None:
    """The Ed25519 public key of a hex secret, or None when it is not 32 hex-encoded bytes."""
    try:
        raw = binascii.unhexlify(secret.strip())
    except (binascii.Error, ValueError):
        return None
    return Ed25519PublicKey.from_public_bytes(raw) if len(raw) == 32 else None


@dataclass(frozen=True)
class DiscordVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        signature = parse_hex(require_header(request, "x-signature-ed25519"), "X-Signature-Ed25519")
        timestamp = require_header(request, "x-signature-timestamp")
        check_timestamp(timestamp, now, self.replay_window_s)
        signed = timestamp.encode() + request.body
        index = self._match(now, signature, signed)
        if index is None:
            raise bad_signature()
        payload = json_object(request)
        kind = payload.get("type")
        if isinstance(kind, int) and not isinstance(kind, bool) and kind == PING:
            return Verified(secret_index=index, reply=Reply(200, PONG, "application/json"))
        return Verified(delivery_key=text_field(payload, "id"), secret_index=index)

    def _match(self, now: datetime, signature: bytes, signed: bytes) -> int | None:
        for index, secret in self.ring.active(now):
            key = public_key(secret)
            if key is None:
                continue
            try:
                key.verify(signature, signed)
            except InvalidSignature:
                continue
            return index
        return None


def build(config: SourceConfig, ring: SecretRing) -> DiscordVerifier:
    Options.of(config, ())
    for secret in ring.secrets:
        if public_key(secret.value) is None:
            raise ValueError(f"secret #{secret.index} is not a hex Ed25519 public key")
    return DiscordVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
