"""The configurable `hmac` kind: algorithms, encodings, prefixes, timestamps, templates."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from reflex_common.errors import ConfigError
from reflex_ingress.sources.request import Rejected

BODY = b'{"event":"thing.happened"}'


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_algorithms_and_encodings(make_verifier, make_request, now, algorithm, encoding):
    digest = hmac.new(b"k", BODY, getattr(hashlib, algorithm)).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    options = {"header": "X-Signature", "algorithm": algorithm, "encoding": encoding, "prefix": f"{algorithm}="}
    verifier = make_verifier("hmac", "k", options=options)
    assert verifier.verify(make_request(BODY, {"X-Signature": f"{algorithm}={value}"}), now).secret_index == 0
    with pytest.raises(Rejected):
        verifier.verify(make_request(BODY, {"X-Signature": value}), now)  # prefix required


def test_timestamp_template_and_delivery_key(make_verifier, make_request, now):
    ts = str(int(now.timestamp()))
    content = f"{ts}:d-9:".encode() + BODY
    signature = hmac.new(b"k", content, hashlib.sha256).hexdigest()
    options = {
        "header": "X-Sig",
        "timestamp_header": "X-Ts",
        "delivery_key_header": "X-Delivery",
        "signed_content": "{timestamp}:{delivery_key}:{body}",
    }
    verifier = make_verifier("hmac", "k", options=options)
    headers = {"X-Sig": signature, "X-Ts": ts, "X-Delivery": "d-9"}
    verified = verifier.verify(make_request(BODY, headers), now)
    assert verified.delivery_key == "d-9"
    for name, value in [("X-Ts", str(int(ts) - 1)), ("X-Delivery", "d-8")]:
        with pytest.raises(Rejected):
            verifier.verify(make_request(BODY, {**headers, name: value}), now)
    stale = str(int(ts) - 301)
    stale_sig = hmac.new(b"k", f"{stale}:d-9:".encode() + BODY, hashlib.sha256).hexdigest()
    with pytest.raises(Rejected, match="replay window"):
        verifier.verify(make_request(BODY, {**headers, "X-Ts": stale, "X-Sig": stale_sig}), now)


def test_default_template_with_timestamp_header(make_verifier, make_request, now):
    ts = str(int(now.timestamp()))
    signature = hmac.new(b"k", ts.encode() + b"." + BODY, hashlib.sha256).hexdigest()
    verifier = make_verifier("hmac", "k", options={"header": "X-Sig", "timestamp_header": "X-Ts"})
    assert verifier.verify(make_request(BODY, {"X-Sig": signature, "X-Ts": ts}), now)
    with pytest.raises(Rejected, match="missing"):
        verifier.verify(make_request(BODY, {"X-Sig": signature}), now)


def test_several_signatures_in_the_header(make_verifier, make_request, now):
    good = hmac.new(b"k2", BODY, hashlib.sha256).hexdigest()
    verifier = make_verifier("hmac", "k1", "k2", options={"header": "X-Sig"})
    assert verifier.verify(make_request(BODY, {"X-Sig": f"{'ab' * 32}, zz {good}"}), now).secret_index == 1


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"header": "X-Sig", "algorithm": "md5"},
        {"header": "X-Sig", "encoding": "base32"},
        {"header": "X-Sig", "signed_content": "{timestamp}"},
        {"header": "X-Sig", "signed_content": "{body}{body}"},
        {"header": "X-Sig", "signed_content": "{bodies}"},
        {"header": "X-Sig", "signed_content": "{body"},
        {"header": "X-Sig", "signed_content": "{timestamp}.{body}"},
        {"header": "X-Sig", "timestamp_header": "X-Ts", "signed_content": "{body}"},
        {"header": "X-Sig", "signed_content": "{delivery_key}{body}"},
        {"header": "X-Sig", "prefix": "a b"},
        {"header": "X-Sig", "unknown": 1},
        {"header": 5},
    ],
)
def test_bad_options_are_config_errors(make_verifier, options):
    with pytest.raises(ConfigError, match="bad options"):
        make_verifier("hmac", "k", options=options)
