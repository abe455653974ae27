"""Discord interactions: Ed25519 over timestamp + body with the application's public key; PING
answered with `{"type": 1}`."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from reflex_common.errors import ConfigError
from reflex_ingress.sources.request import Rejected

PRIVATE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_HEX = PRIVATE.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def interaction(make_request, now, payload: dict[str, object], key: Ed25519PrivateKey = PRIVATE, age_s: int = 0):
    body = json.dumps(payload).encode()
    ts = str(int(now.timestamp()) - age_s)
    return make_request(body, {"X-Signature-Ed25519": key.sign(ts.encode() + body).hex(), "X-Signature-Timestamp": ts})


def test_ping_is_answered_with_pong(make_verifier, make_request, now):
    verified = make_verifier("discord", PUBLIC_HEX).verify(interaction(make_request, now, {"type": 1, "id": "1"}), now)
    assert verified.reply is not None
    assert (verified.reply.status, verified.reply.content_type) == (200, "application/json")
    assert json.loads(verified.reply.body) == {"type": 1}


def test_interaction_keyed_by_id(make_verifier, make_request, now):
    other = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    request = interaction(make_request, now, {"type": 2, "id": "1180523448226713610"})
    verified = make_verifier("discord", other, PUBLIC_HEX).verify(request, now)
    assert (verified.delivery_key, verified.secret_index, verified.reply) == ("1180523448226713610", 1, None)


@pytest.mark.parametrize("change", ["key", "body", "timestamp", "signature", "not-hex", "stale", "missing"])
def test_rejections_are_401(make_verifier, make_request, now, change):
    key = Ed25519PrivateKey.generate() if change == "key" else PRIVATE
    request = interaction(make_request, now, {"type": 1}, key=key, age_s=301 if change == "stale" else 0)
    headers, body = dict(request.headers), request.body
    if change == "body":
        body = b'{"type": 2}'
    elif change == "timestamp":
        headers["x-signature-timestamp"] = str(int(headers["x-signature-timestamp"]) - 1)
    elif change == "signature":
        headers["x-signature-ed25519"] = "00" * 64
    elif change == "not-hex":
        headers["x-signature-ed25519"] = "zz"
    elif change == "missing":
        del headers["x-signature-ed25519"]
    with pytest.raises(Rejected) as caught:
        make_verifier("discord", PUBLIC_HEX).verify(make_request(body, headers), now)
    assert caught.value.status == 401


@pytest.mark.parametrize("secret", ["not hex", "abcd", "00" * 33])
def test_secret_must_be_a_hex_public_key(make_verifier, secret):
    with pytest.raises(ConfigError, match="secret #0"):
        make_verifier("discord", secret)
