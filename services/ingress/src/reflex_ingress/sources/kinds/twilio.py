"""Twilio: `X-Twilio-Signature: <base64 HMAC-SHA1>` keyed with the account's auth token, over the
full public URL the request was sent to (`WebhookRequest.url`, rebuilt behind a proxy by the
handler), followed for form POSTs by every parameter sorted by name, each name then value with no
separator. JSON bodies are covered instead by a `bodySHA256=<hex SHA-256 of the body>` query
parameter, which is part of the signed URL. Twilio may sign the URL with or without the default
port (443/80), so both are tried, as Twilio's own validator does.

A request naming `algorithm=HMAC_SHA256` in `X-Twilio-Webhooks-Signature-Settings` (a SharedKey
signature) is checked with HMAC-SHA256 instead. The dedup key is `I-Twilio-Idempotency-Token`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    bad_signature,
    body_bound_key,
    hmac_digest,
    is_form,
    parse_base64,
    parse_form,
    require_header,
    require_method,
)

# Twilio retries (when the number's connection overrides ask for it) within minutes.
DEDUP_HORIZON_S = 24 * 3600
_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}
_DEFAULT_PORTS = {"https": 443, "http": 80}
# Forms larger than this are parsed and signed in a worker thread, off the event loop.
OFFLOAD_FORM_BYTES = 16 * 1024
# Twilio sends a few dozen parameters (a message with 10 media URLs: ~60); more is not Twilio.
MAX_FORM_PARAMS = 256
_DIGEST_BYTES = {"sha1": 20, "sha256": 32}


def url_variants(url: str) -> list[str]:
    """The URL as given, without its default port, and with it (Twilio signs either). A URL that does
    not parse (a forwarded host such as `[::1` or `h:99999`) is a 400, never a 500."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Rejected(400, "the public URL of this request does not parse") from exc
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url]
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if port is None and default_port is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default_port}")))
    elif port is not None and port == default_port:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


def _signed_order(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parameters as Twilio signs them: sorted by name, then value, repeats of a pair once."""
    by_name: dict[str, set[str]] = defaultdict(set)
    for name, value in params:
        by_name[name].add(value)
    return [(name, value) for name in sorted(by_name) for value in sorted(by_name[name])]


def signed_params(params: list[tuple[str, str]]) -> str:
    """Parameters sorted by name, then value, each name+value concatenated."""
    return "".join(name + value for name, value in _signed_order(params))


def _algorithm(request: WebhookRequest) -> str:
    settings = request.header("x-twilio-webhooks-signature-settings") or ""
    for part in settings.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            algorithm = _ALGORITHMS.get(value.strip().upper())
            if algorithm is None:
                raise Rejected(401, "unsupported Twilio signature algorithm")
            return algorithm
    return "sha1"


@dataclass(frozen=True)
class TwilioVerifier:
    ring: SecretRing
    sends_json: bool = False
    dedup_horizon_s: int = DEDUP_HORIZON_S
    max_form_params: int = MAX_FORM_PARAMS

    def may_block(self, request: WebhookRequest) -> bool:
        return len(request.body) > OFFLOAD_FORM_BYTES

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST", "GET")
        provided = parse_base64(require_header(request, "x-twilio-signature"), "X-Twilio-Signature")
        algorithm = _algorithm(request)
        if len(provided) != _DIGEST_BYTES[algorithm]:
            # The cheapest check first: a signature of the wrong size never matches, so the body is
            # never parsed for it.
            raise bad_signature()
        variants = url_variants(request.url)
        body_hashes = parse_qs(urlsplit(request.url).query, keep_blank_values=True).get("bodySHA256")
        params: list[tuple[str, str]] = []
        if body_hashes is not None:
            actual = hashlib.sha256(request.body).hexdigest()
            given = body_hashes[0].strip().lower().encode() if len(body_hashes) == 1 else b""
            if not hmac.compare_digest(actual.encode(), given):
                raise Rejected(401, "body does not match bodySHA256")
        elif request.method.upper() == "POST" and is_form(request):
            params = parse_form(request.body, self.max_form_params)
            if any(not name for name, _ in params):
                # Twilio never sends one, and a nameless empty pair ("=") adds nothing to what is
                # signed: accepting it would let the body change under a valid signature.
                raise Rejected(400, "a form parameter has no name")
        elif request.body:
            # A body outside both schemes would not be covered by the signature.
            raise Rejected(401, "body is neither form-encoded nor covered by bodySHA256")
        suffix = signed_params(params).encode()
        # What is stored is what was signed: the parameters in their signed order, one canonical
        # encoding (the raw bytes could move parameter boundaries without changing the signature).
        stored = urlencode(_signed_order(params)).encode() if params else None
        contents = [url.encode() + suffix for url in variants]
        for index, key in self.ring.active(now):
            if any(hmac.compare_digest(hmac_digest(algorithm, key, c), provided) for c in contents):
                body = stored if stored is not None else request.body
                return Verified(
                    delivery_key=body_bound_key(request.header("i-twilio-idempotency-token"), body),
                    secret_index=index,
                    stored_body=stored,
                )
        raise bad_signature()


def build(config: SourceConfig, ring: SecretRing) -> TwilioVerifier:
    Options.of(config, ())
    return TwilioVerifier(ring=ring, dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S))
