"""Standard Webhooks / Svix: the spec's example, `standardwebhooks` and `svix` as oracles, v1a
Ed25519 signatures, several signatures in one header, every rejection path."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import standardwebhooks
import svix
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reflex_common.errors import ConfigError
from reflex_ingress.sources.request import Rejected

# The example of the Standard Webhooks spec (and Svix's libraries' tests).
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def headers(msg_id: str, ts: int, signature: str, family: str = "webhook") -> dict[str, str]:
    return {f"{family}-id": msg_id, f"{family}-timestamp": str(ts), f"{family}-signature": signature}


def test_spec_example_verifies(make_verifier, make_request):
    request = make_request(SPEC_BODY, headers(SPEC_ID, SPEC_TIMESTAMP, SPEC_SIGNATURE))
    verified = make_verifier("standard", SPEC_SECRET).verify(request, at(SPEC_TIMESTAMP + 10))
    assert (verified.delivery_key, verified.secret_index) == (SPEC_ID, 0)


def test_secret_without_prefix_is_read_as_base64_like_the_libraries(make_verifier, make_request):
    request = make_request(SPEC_BODY, headers(SPEC_ID, SPEC_TIMESTAMP, SPEC_SIGNATURE))
    verifier = make_verifier("standard", SPEC_SECRET.removeprefix("whsec_"))
    assert verifier.verify(request, at(SPEC_TIMESTAMP)).secret_index == 0


def test_a_raw_secret_that_is_not_base64_is_the_key_itself(make_verifier, make_request, now):
    import hashlib
    import hmac

    ts = int(now.timestamp())
    digest = hmac.new(b"raw secret!", f"m1.{ts}.".encode() + b"{}", hashlib.sha256).digest()
    request = make_request(b"{}", headers("m1", ts, "v1," + base64.b64encode(digest).decode()))
    assert make_verifier("standard", "raw secret!").verify(request, now).secret_index == 0


def test_standardwebhooks_signs_we_accept(make_verifier, make_request, now):
    body = b'{"type":"invoice.paid","data":{"id":"in_1"}}'
    signature = standardwebhooks.Webhook(SECRET).sign("msg_1", now, body.decode())
    request = make_request(body, headers("msg_1", int(now.timestamp()), signature))
    assert make_verifier("standard", "whsec_b3RoZXI=", SECRET).verify(request, now).secret_index == 1


def test_svix_signs_with_svix_headers_we_accept(make_verifier, make_request, now):
    body = b'{"type":"user.created"}'
    signature = svix.Webhook(SECRET).sign("msg_2", now, body.decode())
    request = make_request(body, headers("msg_2", int(now.timestamp()), signature, family="svix"))
    assert make_verifier("standard", SECRET).verify(request, now).delivery_key == "msg_2"


def test_several_signatures_any_valid_one_passes(make_verifier, make_request, now):
    body = b"{}"
    good = standardwebhooks.Webhook(SECRET).sign("msg_3", now, body.decode())
    wrong_v1, wrong_v1a = base64.b64encode(b"x" * 32).decode(), base64.b64encode(b"y" * 64).decode()
    value = f"v1,{wrong_v1} v2,abc v1,%%% {good}  v1a,{wrong_v1a}"
    request = make_request(body, headers("msg_3", int(now.timestamp()), value))
    assert make_verifier("standard", SECRET).verify(request, now).secret_index == 0


def _keypair() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, "whpk_" + base64.b64encode(public).decode()


def test_v1a_ed25519_signature_passes_with_the_public_key(make_verifier, make_request, now):
    private, public = _keypair()
    ts = int(now.timestamp())
    body = b'{"type":"ping"}'
    signature = base64.b64encode(private.sign(f"msg_4.{ts}.".encode() + body)).decode()
    request = make_request(body, headers("msg_4", ts, f"v1a,{signature}"))
    verifier = make_verifier("standard", SECRET, public)
    assert verifier.verify(request, now).secret_index == 1
    tampered = make_request(body + b" ", headers("msg_4", ts, f"v1a,{signature}"))
    with pytest.raises(Rejected):
        verifier.verify(tampered, now)
    # A v1a signature is never checked as v1 against an HMAC key, nor the reverse.
    with pytest.raises(Rejected):
        make_verifier("standard", SECRET).verify(request, now)


def test_v1_signature_does_not_pass_with_a_public_key(make_verifier, make_request, now):
    _, public = _keypair()
    signature = standardwebhooks.Webhook(SECRET).sign("msg_5", now, "{}")
    with pytest.raises(Rejected):
        request = make_request(b"{}", headers("msg_5", int(now.timestamp()), signature))
        make_verifier("standard", public).verify(request, now)


@pytest.mark.parametrize(
    "change",
    [
        "body",
        "id",
        "timestamp",
        "signature",
        "missing-id",
        "missing-timestamp",
        "missing-signature",
        "stale",
        "future",
        "no-valid-entry",
    ],
)
def test_tampering_is_401(make_verifier, make_request, now, change):
    ts = int(now.timestamp())
    body = b'{"a":1}'
    sig = standardwebhooks.Webhook(SECRET).sign("msg_6", now, body.decode())
    h = headers("msg_6", ts, sig)
    if change == "body":
        body = b'{"a":2}'
    elif change == "id":
        h["webhook-id"] = "msg_7"
    elif change == "timestamp":
        h["webhook-timestamp"] = str(ts - 1)
    elif change == "signature":
        h["webhook-signature"] = "v1," + base64.b64encode(b"\0" * 32).decode()
    elif change.startswith("missing-"):
        del h["webhook-" + change.removeprefix("missing-")]
    elif change in ("stale", "future"):
        moved = ts - 301 if change == "stale" else ts + 301
        h["webhook-timestamp"] = str(moved)
        h["webhook-signature"] = standardwebhooks.Webhook(SECRET).sign("msg_6", at(moved), body.decode())
    elif change == "no-valid-entry":
        h["webhook-signature"] = "v2,abc nonsense"
    with pytest.raises(Rejected) as caught:
        make_verifier("standard", SECRET).verify(make_request(body, h), now)
    assert caught.value.status == 401


def test_the_libraries_reject_what_we_reject():
    body = '{"a":1}'
    sig = standardwebhooks.Webhook(SECRET).sign("msg_8", datetime.now(tz=UTC), body)
    h = headers("msg_8", int(datetime.now(tz=UTC).timestamp()), sig)
    standardwebhooks.Webhook(SECRET).verify(body, h)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(SECRET).verify(body + " ", h)


@pytest.mark.parametrize("secret", ["whsec_!!!", "whpk_" + base64.b64encode(b"short").decode(), "whpk_"])
def test_malformed_keys_are_config_errors(make_verifier, secret):
    with pytest.raises(ConfigError, match="secret #0"):
        make_verifier("standard", secret)
