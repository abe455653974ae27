"""Every kind, both ways round: what reflexctl signs, the ingress verifier accepts; change the
signed body and it rejects. The two sides are written independently, so agreement is evidence."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.kinds import sns
from reflex_ingress.sources.registry import build_source
from reflex_ingress.sources.request import Rejected, Verified, WebhookRequest
from reflex_ingress.sources.secrets import SecretRing
from reflex_ingress.sources.verifier import body_bound_key
from reflexctl.signing import Delivery, Signed, sign

NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)
TS = int(NOW.timestamp())
URL = "https://hooks.example.com/api/v1/events/src?tenant=acme"
BODY = json.dumps({"id": "evt_42", "type": "thing.created", "event_id": "Ev42", "event": {"id": "pd-42"}}).encode()

ED_SEED = bytes(range(32))
ED_PUBLIC = Ed25519PrivateKey.from_private_bytes(ED_SEED).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
TOPIC = "arn:aws:sns:eu-west-1:123456789012:orders"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-7e57.pem"


def _certificate() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(RSA_KEY.public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(RSA_KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


CERT = _certificate()

# kind -> (signing secret, configured secrets, source options, signing options)
CASES: dict[str, tuple[str, list[str], dict[str, object], dict[str, str]]] = {
    "github": ("gh-secret", ["gh-secret"], {}, {}),
    "stripe": ("whsec_abc", ["whsec_abc"], {}, {}),
    "slack": ("slack-secret", ["slack-secret"], {}, {}),
    "shopify": ("shop-secret", ["shop-secret"], {}, {}),
    "gitlab": ("gl-token", ["gl-token"], {}, {}),
    "standard": (
        "whsec_" + base64.b64encode(b"s" * 24).decode(),
        ["whsec_" + base64.b64encode(b"s" * 24).decode()],
        {},
        {},
    ),
    "twilio": ("auth-token", ["auth-token"], {}, {}),
    "linear": ("lin-secret", ["lin-secret"], {}, {}),
    "pagerduty": ("pd-secret", ["pd-secret"], {}, {}),
    "twitch": ("tw-secret", ["tw-secret"], {}, {}),
    "zoom": ("zoom-secret", ["zoom-secret"], {}, {}),
    "discord": (ED_SEED.hex(), [ED_PUBLIC.hex()], {}, {}),
    "meta": ("app-secret", ["app-secret"], {}, {}),
    "msgraph": ("client-state", ["client-state"], {}, {}),
    "hmac": (
        "h-secret",
        ["h-secret"],
        {
            "header": "X-Sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
            "timestamp_header": "X-Ts",
            "delivery_key_header": "X-Id",
            "signed_content": "{delivery_key}:{timestamp}:{body}",
        },
        {
            "header": "X-Sig",
            "algorithm": "sha512",
            "encoding": "base64",
            "prefix": "sha512=",
            "timestamp_header": "X-Ts",
            "delivery_key_header": "X-Id",
            "signed_content": "{delivery_key}:{timestamp}:{body}",
        },
    ),
    "token": ("tok", ["tok"], {"header": "Authorization", "prefix": "Bearer "}, {}),
    "basic": ("hook:pw", ["hook:pw"], {}, {}),
    "none": ("unused", [], {}, {}),
}

# Kinds that authenticate with a shared credential and do not sign the body.
BODY_UNSIGNED = frozenset({"basic", "gitlab", "msgraph", "token"})


def request_of(signed: Signed, url: str = URL) -> WebhookRequest:
    target = signed.url_for(url)
    return WebhookRequest(
        method="POST",
        url=target,
        headers={k.lower(): v for k, v in signed.headers.items()},
        query=dict(p.split("=", 1) for p in urlsplit(target).query.split("&") if p),
        body=signed.body,
        content_type=signed.headers.get("Content-Type", "").split(";")[0],
    )


def verify(kind: str, secrets: list[str], options: dict[str, object], signed: Signed) -> Verified:
    config = SourceConfig(
        name="src",
        kind=kind,
        secrets=["decoy", *secrets] if kind not in ("discord", "basic", "standard", "none") else secrets,
        options=options,
    )
    return build_source(config).verifier.verify(request_of(signed), NOW)


def tampered(signed: Signed) -> Signed:
    body = signed.body.replace(b"thing", b"thinG") if b"thing" in signed.body else signed.body + b"&x=1"
    return Signed(signed.headers, body, signed.query)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_reflexctl_signs_the_ingress_accepts(kind):
    secret, secrets, options, signing_options = CASES[kind]
    signed = sign(kind, Delivery(secret, BODY, TS, url=URL, delivery_id="del-42", options=signing_options))
    verified = verify(kind, secrets, options, signed)
    if kind == "none":
        return
    assert verified.secret_index is not None
    if kind in BODY_UNSIGNED:
        with pytest.raises(Rejected):  # a shared credential: only another secret fails
            verify(kind, ["other:credential"], options, signed)
    else:
        with pytest.raises(Rejected):
            verify(kind, secrets, options, tampered(signed))


# Kinds whose delivery key the signature covers (in the body, or a signed header).
# Kinds whose key is the id as it is: signed, or (Linear) taken as it is once the signature passed.
SIGNED_KEYS = {"stripe", "slack", "standard", "pagerduty", "twitch", "discord", "hmac", "linear"}


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("github", "del-42"),
        ("stripe", "evt_42"),
        ("slack", "Ev42"),
        ("shopify", "del-42"),
        ("gitlab", "del-42"),
        ("standard", "del-42"),
        ("twilio", "del-42"),
        ("linear", "del-42"),
        ("pagerduty", "pd-42"),
        ("twitch", "del-42"),
        ("discord", "evt_42"),
        ("hmac", "del-42"),
    ],
)
def test_delivery_keys_survive_the_round_trip(kind, expected):
    secret, secrets, options, signing_options = CASES[kind]
    signed = sign(kind, Delivery(secret, BODY, TS, url=URL, delivery_id="del-42", options=signing_options))
    verified = verify(kind, secrets, options, signed)
    key = verified.delivery_key
    # Ids from headers the signature does not cover come back bound to the signed body (Twilio: to
    # the parameters it signed, as stored).
    stored = verified.stored_body if verified.stored_body is not None else signed.body
    assert key in {expected, body_bound_key(expected, stored)}
    assert (key == expected) == (kind in SIGNED_KEYS)


def test_twilio_json_bodies_round_trip():
    signed = sign("twilio", Delivery("auth-token", BODY, TS, url=URL, options={"json": "true"}))
    assert verify("twilio", ["auth-token"], {}, signed).secret_index == 1
    with pytest.raises(Rejected):
        verify("twilio", ["auth-token"], {}, Signed(signed.headers, BODY + b" ", signed.query))


def test_standard_v1a_round_trip():
    signed = sign("standard", Delivery("whsk_" + base64.b64encode(ED_SEED).decode(), BODY, TS))
    assert signed.headers["webhook-signature"].startswith("v1a,")
    assert verify("standard", ["whpk_" + base64.b64encode(ED_PUBLIC).decode()], {}, signed).secret_index == 0


@pytest.mark.parametrize(
    ("kind", "event", "body", "reply"),
    [
        ("slack", None, b'{"type":"url_verification","challenge":"c-1"}', b"c-1"),
        ("twitch", "webhook_callback_verification", b'{"challenge":"c-2"}', b"c-2"),
        ("discord", None, b'{"type":1}', b'{"type":1}'),
    ],
)
def test_challenges_round_trip(kind, event, body, reply):
    secret, secrets, options, _ = CASES[kind]
    verified = verify(kind, secrets, options, sign(kind, Delivery(secret, body, TS, event=event)))
    assert verified.reply is not None and verified.reply.body == reply


def test_zoom_url_validation_round_trip():
    body = b'{"event":"endpoint.url_validation","payload":{"plainToken":"pt"}}'
    verified = verify("zoom", ["zoom-secret"], {}, sign("zoom", Delivery("zoom-secret", body, TS)))
    assert verified.reply is not None
    expected = hmac.new(b"zoom-secret", b"pt", hashlib.sha256).hexdigest()
    assert json.loads(verified.reply.body) == {"plainToken": "pt", "encryptedToken": expected}


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("kind", ["Notification", "SubscriptionConfirmation"])
def test_sns_round_trip(version, kind):
    options = {"topic_arn": TOPIC, "cert_url": CERT_URL, "signature_version": version, "subject": "hi"}
    signed = sign("sns", Delivery(RSA_PEM, BODY, TS, delivery_id="m-1", event=kind, options=options))
    confirmed: list[str] = []
    verifier = sns.build(
        SourceConfig(name="src", kind="sns", options={"topic_arns": [TOPIC], "auto_confirm": True}),
        SecretRing([]),
        fetch_certificate=lambda url: CERT if url == CERT_URL else b"",
        confirm=confirmed.append,
    )
    verified = verifier.verify(request_of(signed), NOW)
    if kind == "Notification":
        assert verified.delivery_key == "m-1" and verified.reply is None
        assert json.loads(signed.body)["Message"] == BODY.decode()
    else:
        assert verified.reply is not None and len(confirmed) == 1
    with pytest.raises(Rejected):
        message = json.loads(signed.body)
        message["Message"] = message.get("Message", "") + " "
        verifier.verify(request_of(Signed(signed.headers, json.dumps(message).encode())), NOW)
