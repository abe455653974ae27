"""The port every source kind implements, and the helpers kinds share.

Helpers raise `Rejected` with a status that fits: 401 when the request cannot be authenticated
(missing or malformed signature material, stale timestamp), 400 when an authenticated body is
malformed, 405 for a method the kind never uses. Reasons never contain a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson

from reflex_common.schemas.json_body import MAX_JSON_DEPTH, nested_too_deep
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class Verifier(Protocol):
    # Read-only properties, so that frozen dataclasses implement the protocol.
    @property
    def sends_json(self) -> bool:
        """Whether the kind's bodies are JSON (the ingress answers 400 to a body that is not)."""
        ...

    @property
    def dedup_horizon_s(self) -> int:
        """How long a delivery key is remembered to drop the sender's retries (seconds)."""
        ...

    def may_block(self, request: WebhookRequest) -> bool:
        """Whether verifying this request may block for long (a certificate fetch over the network,
        a large form to parse): the ingress then runs verify() in a worker thread, a few at a time
        per source, instead of on the event loop."""
        ...

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        """Verify the raw request; raise Rejected (401 / 400 / 405) when it fails. Must fail closed."""
        ...


class OnLoop:
    """For verifiers that only compute over a bounded body: verify() never blocks the event loop."""

    def may_block(self, request: WebhookRequest) -> bool:
        return False


def hmac_digest(algorithm: str, key: bytes, message: bytes) -> bytes:
    # The one-shot form: OpenSSL in a single call, no HMAC object per request.
    return hmac.digest(key, message, algorithm)


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


def token_match(ring: SecretRing, now: datetime, token: bytes) -> int | None:
    """The index of the first active secret equal to `token` (a shared token, a password).

    Both sides are hashed first, so the compare takes the same time whatever the lengths."""
    if not token:
        return None
    provided = hashlib.sha256(token).digest()
    return first_match(ring, now, lambda key: hashlib.sha256(key).digest(), [provided])


def secret_at(ring: SecretRing, now: datetime, index: int) -> bytes:
    """The value of the active secret `index` (for schemes that answer with a keyed digest)."""
    for i, key in ring.active(now):
        if i == index:
            return key
    raise Rejected(401, "signing secret no longer active")


def require_header(request: WebhookRequest, name: str) -> str:
    value = request.header(name)
    if value is None or not value.strip():
        raise Rejected(401, f"missing {name} header")
    return value.strip()


def require_method(request: WebhookRequest, *allowed: str) -> None:
    if request.method.upper() not in allowed:
        raise Rejected(405, "method not allowed for this source")


def check_age(sent_at_s: float, now: datetime, window_s: int) -> None:
    """Reject a signed send time outside ±window_s of now (replay protection)."""
    if abs(now.timestamp() - sent_at_s) > window_s:
        raise Rejected(401, f"signature timestamp outside the {window_s} s replay window")


def check_timestamp(timestamp_s: str, now: datetime, window_s: int) -> int:
    """Parse a signed Unix timestamp (ASCII digits only) and reject it outside ±window_s of now."""
    text = timestamp_s.strip()
    if not _UNIX_SECONDS.fullmatch(text):
        raise Rejected(401, "malformed signature timestamp")
    ts = int(text)
    check_age(ts, now, window_s)
    return ts


def parse_hex(value: str, what: str) -> bytes:
    try:
        return bytes.fromhex(value.strip())
    except ValueError as exc:
        raise Rejected(401, f"{what} is not hex") from exc


def parse_base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Rejected(401, f"{what} is not base64") from exc


def parse_form(body: bytes, max_params: int) -> list[tuple[str, str]]:
    """A form body's parameters, refused (400) before any parsing when it has more than max_params
    (counted in C, so a body of 100,000 empty parameters costs microseconds) or is not UTF-8."""
    if not body:
        return []
    if body.count(b"&") >= max_params:
        raise Rejected(400, f"form body has more than {max_params} parameters")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, "form body is not UTF-8") from exc
    # As the processor reads it: a part without "=" is a name with an empty value.
    return parse_qsl(text, keep_blank_values=True)


def is_form(request: WebhookRequest) -> bool:
    return request.content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE


def check_json(body: bytes) -> Any:
    """The body parsed, if it is JSON the store takes (docs/sources.md); else Rejected(400)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "body is not valid JSON") from exc
    if nested_too_deep(body, value):
        raise Rejected(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def check_form(body: bytes, max_params: int) -> None:
    """A form body the store takes: UTF-8, at most max_params parameters, no NUL character."""
    if any("\x00" in name or "\x00" in value for name, value in parse_form(body, max_params)):
        raise Rejected(400, "form body contains a NUL character")


def json_object(request: WebhookRequest) -> dict[str, Any]:
    """The body as a JSON object; call only after the signature passed (a bad body is then a 400)."""
    try:
        value = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise Rejected(400, "body is not a JSON object")
    return value


def json_without(body: bytes, remove: Callable[[Any], None]) -> bytes:
    """The JSON body re-encoded after `remove` took what must not be stored out of the parsed value
    (the standard library both ways: integers of any size stay exact)."""
    value = json.loads(body)
    remove(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def text_field(payload: dict[str, Any], name: str) -> str | None:
    """A string (or integer) field of a JSON object as text, else None: for delivery keys."""
    value = payload.get(name)
    if isinstance(value, bool):
        return None
    if isinstance(value, str | int):
        return str(value) or None
    return None


def bad_signature() -> Rejected:
    return Rejected(401, "signature does not match")


def verify_v0_signature(
    request: WebhookRequest,
    ring: SecretRing,
    now: datetime,
    *,
    signature_header: str,
    timestamp_header: str,
    replay_window_s: int,
) -> int:
    """The `v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">` scheme (Slack, Zoom), with its replay
    window. Returns the index of the matching secret; raises Rejected(401) otherwise."""
    signature = require_header(request, signature_header)
    timestamp = require_header(request, timestamp_header)
    version, _, hex_digest = signature.partition("=")
    if version.strip() != "v0" or not hex_digest:
        raise Rejected(401, f"{signature_header} must be v0=<hex>")
    provided = parse_hex(hex_digest, signature_header)
    check_timestamp(timestamp, now, replay_window_s)
    signed = b"v0:" + timestamp.encode() + b":" + request.body
    index = first_match(ring, now, lambda key: hmac_digest("sha256", key, signed), [provided])
    if index is None:
        raise bad_signature()
    return index


MAX_KEY_CHARS = 200


def body_key(body: bytes) -> str:
    """A dedup key for a body alone: `sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def body_bound_key(value: str | None, body: bytes) -> str:
    """The dedup key for a delivery id from a header the signature does not cover, bound to the
    signed body: `<id>#<sha256(body), 128 bits>`. A replayed body under a new id is not taken for a
    repeat, and an id claimed ahead of time with an old body can never shadow the real delivery.
    Without an id, the body's own key: a captured body re-sent with the id left out is a repeat."""
    if value is None or not value.strip():
        return body_key(body)
    return f"{value.strip()[:MAX_KEY_CHARS]}#{hashlib.sha256(body).hexdigest()[:32]}"
