"""Properties every signing scheme must have, checked with hypothesis over random bodies, secrets
and times: a correctly signed request passes whatever the header-name casing or surrounding
whitespace; any change to the body, the signed timestamp or the signature is rejected."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.registry import build_source
from reflex_ingress.sources.request import Rejected, WebhookRequest

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
NOW_S = int(NOW.timestamp())
URL = "https://hooks.example.com/api/v1/events/prop"


def _hmac256(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, content, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z")


def _seed(secret: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(secret.encode()).digest())


@dataclass(frozen=True)
class Scheme:
    kind: str
    # (raw signature, timestamp) -> the headers that carry them
    headers: Callable[[bytes, int], dict[str, str]]
    # (body, timestamp) -> the signed bytes
    content: Callable[[bytes, int], bytes] = lambda body, ts: body
    # (secret text, signed bytes) -> raw signature
    mac: Callable[[str, bytes], bytes] = lambda secret, content: _hmac256(secret.encode(), content)
    # secret text -> the source's configured secret
    configured: Callable[[str], str] = lambda secret: secret
    signs_time: bool = False
    form: bool = False
    options: dict[str, object] = field(default_factory=dict)


SCHEMES = [
    Scheme("github", lambda raw, ts: {"X-Hub-Signature-256": "sha256=" + raw.hex()}),
    Scheme("meta", lambda raw, ts: {"X-Hub-Signature-256": "sha256=" + raw.hex()}),
    Scheme("shopify", lambda raw, ts: {"X-Shopify-Hmac-Sha256": _b64(raw)}),
    Scheme("pagerduty", lambda raw, ts: {"X-PagerDuty-Signature": "v1=" + raw.hex()}),
    Scheme("linear", lambda raw, ts: {"Linear-Signature": raw.hex()}),
    Scheme(
        "stripe",
        lambda raw, ts: {"Stripe-Signature": f"t={ts},v1={raw.hex()}"},
        content=lambda body, ts: f"{ts}.".encode() + body,
        signs_time=True,
    ),
    Scheme(
        "slack",
        lambda raw, ts: {"X-Slack-Signature": "v0=" + raw.hex(), "X-Slack-Request-Timestamp": str(ts)},
        content=lambda body, ts: f"v0:{ts}:".encode() + body,
        signs_time=True,
    ),
    Scheme(
        "zoom",
        lambda raw, ts: {"x-zm-signature": "v0=" + raw.hex(), "x-zm-request-timestamp": str(ts)},
        content=lambda body, ts: f"v0:{ts}:".encode() + body,
        signs_time=True,
    ),
    Scheme(
        "standard",
        lambda raw, ts: {"Webhook-Id": "msg_1", "Webhook-Timestamp": str(ts), "Webhook-Signature": "v1," + _b64(raw)},
        content=lambda body, ts: f"msg_1.{ts}.".encode() + body,
        configured=lambda secret: "whsec_" + _b64(secret.encode()),
        signs_time=True,
    ),
    Scheme(
        "twitch",
        lambda raw, ts: {
            "Twitch-Eventsub-Message-Id": "m-1",
            "Twitch-Eventsub-Message-Timestamp": _rfc3339(ts),
            "Twitch-Eventsub-Message-Type": "notification",
            "Twitch-Eventsub-Message-Signature": "sha256=" + raw.hex(),
        },
        content=lambda body, ts: b"m-1" + _rfc3339(ts).encode() + body,
        signs_time=True,
    ),
    Scheme(
        "discord",
        lambda raw, ts: {"X-Signature-Ed25519": raw.hex(), "X-Signature-Timestamp": str(ts)},
        content=lambda body, ts: str(ts).encode() + body,
        mac=lambda secret, content: _seed(secret).sign(content),
        configured=lambda secret: _seed(secret).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
        signs_time=True,
    ),
    Scheme(
        "hmac",
        lambda raw, ts: {"X-Sig": "sha512=" + _b64(raw), "X-Ts": str(ts)},
        content=lambda body, ts: f"{ts}.".encode() + body,
        mac=lambda secret, content: hmac.new(secret.encode(), content, hashlib.sha512).digest(),
        signs_time=True,
        options={
            "header": "X-Sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
            "timestamp_header": "X-Ts",
        },
    ),
    Scheme(
        "twilio",
        lambda raw, ts: {"X-Twilio-Signature": _b64(raw)},
        content=lambda body, ts: URL.encode() + body,  # body here is already name+value pairs, see below
        mac=lambda secret, content: hmac.new(secret.encode(), content, hashlib.sha1).digest(),
        form=True,
    ),
]
BY_KIND = {s.kind: s for s in SCHEMES}

secrets = st.from_regex(r"[A-Za-z0-9_]{12,40}", fullmatch=True)
scalars = st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=12), st.booleans(), st.none())
objects = st.dictionaries(st.text(max_size=8), scalars, max_size=5)
offsets = st.integers(-250, 250)


@dataclass(frozen=True)
class Case:
    scheme: Scheme
    secret: str
    body: bytes
    ts: int

    def signed_content(self) -> bytes:
        if self.scheme.form:
            params = sorted(_params(self.body).items())
            return self.scheme.content("".join(k + v for k, v in params).encode(), self.ts)
        return self.scheme.content(self.body, self.ts)

    def request(
        self,
        *,
        body: bytes | None = None,
        raw: bytes | None = None,
        ts: int | None = None,
        name_case: Callable[[str], str] = str.lower,
        pad: str = "",
    ) -> WebhookRequest:
        signature = raw if raw is not None else self.scheme.mac(self.secret, self.signed_content())
        headers = {name_case(k): pad + v + pad for k, v in self.scheme.headers(signature, ts or self.ts).items()}
        return WebhookRequest(
            method="POST",
            url=URL,
            headers=headers,
            query={},
            body=self.body if body is None else body,
            content_type="application/x-www-form-urlencoded" if self.scheme.form else "application/json",
        )

    def verify(self, request: WebhookRequest) -> None:
        config = SourceConfig(
            name="prop",
            kind=self.scheme.kind,
            secrets=[self.scheme.configured(self.secret)],
            options=self.scheme.options,
        )
        build_source(config).verifier.verify(request, NOW)


def _params(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True))


@st.composite
def cases(draw: st.DrawFn, kind: str) -> Case:
    scheme = BY_KIND[kind]
    ts = NOW_S + draw(offsets)
    payload = draw(objects)
    if scheme.form:
        params = {
            f"P{k}": str(v)
            for k, v in draw(st.dictionaries(st.integers(0, 99), st.text(max_size=10), max_size=4)).items()
        }
        body = urlencode(params).encode()
    else:
        if kind == "linear":  # its window is 60 s
            payload["webhookTimestamp"] = NOW_S * 1000 + draw(st.integers(-59_000, 59_000))
        body = json.dumps(payload).encode()
    return Case(scheme, draw(secrets), body, ts)


KINDS = [s.kind for s in SCHEMES]
TIMED = [s.kind for s in SCHEMES if s.signs_time]


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_signed_requests_pass_whatever_the_header_casing_and_padding(kind, data):
    case = data.draw(cases(kind))
    casing = data.draw(st.sampled_from([str.lower, str.upper, str.title, lambda s: s]))
    pad = data.draw(st.sampled_from(["", " ", "\t"]))
    case.verify(case.request(name_case=casing, pad=pad))


def _flip(data: bytes, index: int, bit: int) -> bytes:
    changed = bytearray(data)
    changed[index % len(changed)] ^= 1 << bit
    return bytes(changed)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_change_to_the_body_is_rejected(kind, data):
    case = data.draw(cases(kind))
    change = data.draw(st.sampled_from(["flip", "append", "truncate"] if case.body else ["append"]))
    if change == "flip":
        body = _flip(case.body, data.draw(st.integers(0, 10**6)), data.draw(st.integers(0, 7)))
    elif change == "append":
        body = case.body + data.draw(st.binary(min_size=1, max_size=4))
    else:
        body = case.body[:-1]
    if case.scheme.form:
        # Twilio signs the decoded parameters, not the raw bytes: %2f and %2F are the same body.
        try:
            assume(_params(body) != _params(case.body))
        except UnicodeDecodeError:
            pass
    with pytest.raises(Rejected) as caught:
        case.verify(case.request(body=body))
    # A changed form body may no longer decode (400); everything else fails the signature (401).
    assert caught.value.status in ((400, 401) if case.scheme.form else (401,))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_change_to_the_signature_is_rejected(kind, data):
    case = data.draw(cases(kind))
    good = case.scheme.mac(case.secret, case.signed_content())
    raw = _flip(good, data.draw(st.integers(0, len(good) - 1)), data.draw(st.integers(0, 7)))
    with pytest.raises(Rejected) as caught:
        case.verify(case.request(raw=raw))
    assert caught.value.status == 401
    other = data.draw(secrets.filter(lambda s: s != case.secret))
    with pytest.raises(Rejected):
        case.verify(case.request(raw=case.scheme.mac(other, case.signed_content())))


@pytest.mark.parametrize("kind", TIMED)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_change_to_the_signed_timestamp_is_rejected(kind, data):
    case = data.draw(cases(kind))
    shift = data.draw(st.integers(-40, 40).filter(bool))
    with pytest.raises(Rejected) as caught:
        case.verify(case.request(ts=case.ts + shift))
    assert caught.value.status == 401


@pytest.mark.parametrize("kind", TIMED)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_correctly_signed_but_outside_the_window_is_rejected(kind, data):
    case = data.draw(cases(kind))
    window = 600 if kind == "twitch" else 300
    moved = Case(
        case.scheme,
        case.secret,
        case.body,
        NOW_S + data.draw(st.sampled_from([-1, 1])) * data.draw(st.integers(window + 1, 10**6)),
    )
    with pytest.raises(Rejected, match="replay window"):
        moved.verify(moved.request())
