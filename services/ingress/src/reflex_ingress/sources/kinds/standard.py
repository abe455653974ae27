"""Standard Webhooks (and Svix, its origin): headers `webhook-id`, `webhook-timestamp` (Unix s) and
`webhook-signature` (or the same three as `svix-*`); the signed content is `{id}.{timestamp}.{raw body}`.

`webhook-signature` holds space-separated `<version>,<base64>` entries; any valid one passes:
- `v1,<base64 HMAC-SHA256>` with a symmetric secret `whsec_<base64 key>` (a secret without the
  prefix is tried both as base64, as the providers' libraries read it, and as the raw key);
- `v1a,<base64 Ed25519 signature>` with a public key `whpk_<base64 32-byte key>`.
The dedup key is the message id (the same on every retry).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    check_timestamp,
    hmac_digest,
    require_header,
    require_method,
)

REPLAY_WINDOW_S = 300
# Svix retries for about 28 hours (5 s ... 10 h apart); keep ids for three days.
DEDUP_HORIZON_S = 3 * 24 * 3600
SYMMETRIC_PREFIX = b"whsec_"
PUBLIC_KEY_PREFIX = b"whpk_"


def _b64(value: bytes) -> bytes | None:
    try:
        # Tolerate missing padding, as the reference libraries do.
        return base64.b64decode(value + b"=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Keys:
    """What one configured secret can check: HMAC keys for v1, a public key for v1a."""

    hmac_keys: tuple[bytes, ...] = ()
    public_key: Ed25519PublicKey | None = None

    @classmethod
    def parse(cls, secret: bytes) -> Keys | None:
        """The keys of a secret, or None when it is malformed (a whsec_/whpk_ that does not decode)."""
        if secret.startswith(PUBLIC_KEY_PREFIX):
            raw = _b64(secret[len(PUBLIC_KEY_PREFIX) :])
            if raw is None or len(raw) != 32:
                return None
            return cls(public_key=Ed25519PublicKey.from_public_bytes(raw))
        if secret.startswith(SYMMETRIC_PREFIX):
            key = _b64(secret[len(SYMMETRIC_PREFIX) :])
            return cls(hmac_keys=(key,)) if key else None
        decoded = _b64(secret)
        return cls(hmac_keys=(decoded, secret) if decoded and decoded != secret else (secret,))


def _signatures(header: str) -> tuple[list[bytes], list[bytes]]:
    """The v1 and v1a signatures of a webhook-signature header; malformed entries are skipped."""
    v1: list[bytes] = []
    v1a: list[bytes] = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        raw = _b64(encoded.strip().encode()) if encoded else None
        if not raw:
            continue
        if version == "v1":
            v1.append(raw)
        elif version == "v1a":
            v1a.append(raw)
    return v1, v1a


@dataclass(frozen=True)
class StandardWebhookVerifier(OnLoop):
    ring: SecretRing
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        svix = request.header("webhook-signature") is None and request.header("svix-signature") is not None
        family = "svix" if svix else "webhook"
        v1, v1a = _signatures(require_header(request, f"{family}-signature"))
        msg_id = require_header(request, f"{family}-id")
        timestamp = require_header(request, f"{family}-timestamp")
        if not v1 and not v1a:
            raise Rejected(401, f"{family}-signature has no v1 or v1a signature")
        check_timestamp(timestamp, now, self.replay_window_s)
        signed = f"{msg_id}.{timestamp}.".encode() + request.body
        index = self._match(now, signed, v1, v1a)
        if index is None:
            raise bad_signature()
        return Verified(delivery_key=msg_id, secret_index=index)

    def _match(self, now: datetime, signed: bytes, v1: list[bytes], v1a: list[bytes]) -> int | None:
        for index, secret in self.ring.active(now):
            keys = Keys.parse(secret)
            if keys is None:
                continue
            for key in keys.hmac_keys:
                expected = hmac_digest("sha256", key, signed)
                if any(hmac.compare_digest(expected, candidate) for candidate in v1):
                    return index
            if keys.public_key is not None:
                for candidate in v1a:
                    try:
                        keys.public_key.verify(candidate, signed)
                    except InvalidSignature:
                        continue
                    return index
        return None


def build(config: SourceConfig, ring: SecretRing) -> StandardWebhookVerifier:
    Options.of(config, ())
    for secret in ring.secrets:
        if Keys.parse(secret.value) is None:
            raise ValueError(f"secret #{secret.index} is not a valid whsec_/whpk_ key")
    return StandardWebhookVerifier(
        ring=ring,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
