"""`hmac`: a configurable HMAC scheme for senders without a kind of their own.

Options:
- `header` (required): the header carrying the signature;
- `algorithm`: sha1, sha256 (default) or sha512;
- `encoding`: hex (default) or base64;
- `prefix`: text before each signature, e.g. `sha256=` (default none); the header may hold several
  signatures separated by commas or spaces, any valid one passes;
- `timestamp_header`: a header with the send time in Unix seconds, checked against the replay
  window (300 s unless the source sets `replay_window_s`); it must then appear in the template;
- `signed_content`: the signed bytes as a template of `{body}` (required, once), `{timestamp}` and
  `{delivery_key}`, default `{timestamp}.{body}` with a timestamp header, else `{body}`;
- `delivery_key_header`: the header naming the sender's delivery id (the dedup key).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import (
    OnLoop,
    bad_signature,
    body_bound_key,
    check_timestamp,
    first_match,
    hmac_digest,
    require_header,
    require_method,
)

REPLAY_WINDOW_S = 300
DEDUP_HORIZON_S = 24 * 3600
ALGORITHMS = ("sha1", "sha256", "sha512")
ENCODINGS = ("hex", "base64")
FIELDS = ("body", "timestamp", "delivery_key")
OPTION_NAMES = (
    "header",
    "algorithm",
    "encoding",
    "prefix",
    "timestamp_header",
    "signed_content",
    "delivery_key_header",
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class Template:
    """A signed-content template split once into literal bytes and field names."""

    parts: tuple[tuple[bool, str], ...]  # (is_field, literal text or field name)

    @classmethod
    def parse(cls, text: str) -> Template:
        parts: list[tuple[bool, str]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(text):
            parts.append((False, text[position : match.start()]))
            name = match.group(1)
            if name not in FIELDS:
                raise ValueError(f"signed_content: unknown field {{{name}}} (known: {', '.join(FIELDS)})")
            parts.append((True, name))
            position = match.end()
        parts.append((False, text[position:]))
        literal = "".join(value for is_field, value in parts if not is_field)
        if "{" in literal or "}" in literal:
            raise ValueError("signed_content: unbalanced brace")
        if sum(1 for is_field, value in parts if is_field and value == "body") != 1:
            raise ValueError("signed_content must contain {body} exactly once")
        return cls(tuple(p for p in parts if p[0] or p[1]))

    def fields(self) -> set[str]:
        return {value for is_field, value in self.parts if is_field}

    def render(self, values: dict[str, bytes]) -> bytes:
        return b"".join(values[value] if is_field else value.encode() for is_field, value in self.parts)


def decode(value: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class HmacVerifier(OnLoop):
    ring: SecretRing
    header: str
    template: Template
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""
    timestamp_header: str | None = None
    delivery_key_header: str | None = None
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        provided = self._signatures(require_header(request, self.header))
        if not provided:
            raise Rejected(401, f"{self.header} holds no well-formed signature")
        values = {"body": request.body}
        if self.timestamp_header is not None:
            timestamp = require_header(request, self.timestamp_header)
            check_timestamp(timestamp, now, self.replay_window_s)
            values["timestamp"] = timestamp.encode()
        key = request.header(self.delivery_key_header) if self.delivery_key_header else None
        if "delivery_key" in self.template.fields():
            if self.delivery_key_header is None:
                raise Rejected(401, "no delivery key header")  # build() prevents it
            values["delivery_key"] = require_header(request, self.delivery_key_header).encode()
        signed = self.template.render(values)
        index = first_match(self.ring, now, lambda k: hmac_digest(self.algorithm, k, signed), provided)
        if index is None:
            raise bad_signature()
        if "delivery_key" not in self.template.fields():
            key = body_bound_key(key, request.body)  # the signature does not cover the header
        return Verified(delivery_key=key, secret_index=index, secret_headers=frozenset({self.header.lower()}))

    def _signatures(self, header: str) -> list[bytes]:
        signatures: list[bytes] = []
        for item in _SEPARATORS.split(header):
            if not item:
                continue
            if self.prefix:
                if not item.lower().startswith(self.prefix.lower()):
                    continue
                item = item[len(self.prefix) :]
            raw = decode(item, self.encoding)
            if raw:
                signatures.append(raw)
        return signatures


def build(config: SourceConfig, ring: SecretRing) -> HmacVerifier:
    options = Options.of(config, OPTION_NAMES)
    timestamp_header = options.text("timestamp_header")
    delivery_key_header = options.text("delivery_key_header")
    prefix = options.text("prefix", "") or ""
    if _SEPARATORS.search(prefix):
        raise ValueError("option prefix must not contain commas or spaces")
    default_template = "{timestamp}.{body}" if timestamp_header else "{body}"
    template = Template.parse(options.text("signed_content", default_template) or default_template)
    fields = template.fields()
    if ("timestamp" in fields) != (timestamp_header is not None):
        raise ValueError("timestamp_header and a {timestamp} in signed_content go together")
    if "delivery_key" in fields and delivery_key_header is None:
        raise ValueError("signed_content uses {delivery_key} but delivery_key_header is not set")
    return HmacVerifier(
        ring=ring,
        header=options.required_text("header").lower(),
        template=template,
        algorithm=options.choice("algorithm", "sha256", ALGORITHMS),
        encoding=options.choice("encoding", "hex", ENCODINGS),
        prefix=prefix,
        timestamp_header=timestamp_header.lower() if timestamp_header else None,
        delivery_key_header=delivery_key_header.lower() if delivery_key_header else None,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
    )
