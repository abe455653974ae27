"""The port every source kind implements, and the helpers kinds share."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing


class Verifier(Protocol):
    # Whether the kind's bodies are JSON (the ingress answers 400 to a body that is not).
    sends_json: bool
    # How long a delivery key is remembered to drop the sender's retries (seconds).
    dedup_horizon_s: int

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        """Verify the raw request; raise Rejected (401 / 400 / 405) when it fails. Must fail closed."""
        ...


def hmac_digest(algorithm: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, getattr(hashlib, algorithm)).digest()


def first_match(
    ring: SecretRing, now: datetime, expected_for: Callable[[bytes], bytes], provided: Iterable[bytes]
) -> int | None:
    """The index of the first active secret whose expected signature equals one of `provided`
    (constant-time compares), or None."""
    candidates = [p for p in provided if p]
    for index, key in ring.active(now):
        expected = expected_for(key)
        for candidate in candidates:
            if hmac.compare_digest(expected, candidate):
                return index
    return None


def require_header(request: WebhookRequest, name: str) -> str:
    value = request.header(name)
    if value is None or not value.strip():
        raise Rejected(401, f"missing {name} header")
    return value.strip()


def check_timestamp(timestamp_s: str, now: datetime, window_s: int) -> int:
    """Parse a signed Unix timestamp and reject it outside ±window_s of now (replay protection)."""
    try:
        ts = int(timestamp_s.strip())
    except ValueError as exc:
        raise Rejected(401, "malformed signature timestamp") from exc
    if abs(now.timestamp() - ts) > window_s:
        raise Rejected(401, f"signature timestamp outside the {window_s} s replay window")
    return ts


def bad_signature() -> Rejected:
    return Rejected(401, "signature does not match")
