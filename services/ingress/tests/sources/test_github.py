"""GitHub: the documented example, rotation, form bodies, every rejection path."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

import pytest

from reflex_ingress.sources.config import SecretSpec
from reflex_ingress.sources.request import Rejected
from reflex_ingress.sources.verifier import body_bound_key

# docs.github.com, "Validating webhook deliveries": the published test values.
DOC_SECRET = "It's a Secret to Everybody"
DOC_BODY = b"Hello, World!"
DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_documented_example_verifies(make_verifier, make_request, now):
    verifier = make_verifier("github", DOC_SECRET)
    request = make_request(DOC_BODY, {"X-Hub-Signature-256": DOC_SIGNATURE, "X-GitHub-Delivery": "d-1"})
    verified = verifier.verify(request, now)
    assert verified.secret_index == 0
    assert verified.delivery_key == body_bound_key("d-1", DOC_BODY)
    assert verified.reply is None
    assert sign(DOC_SECRET, DOC_BODY) == DOC_SIGNATURE


def test_any_active_secret_passes_and_its_index_is_reported(make_verifier, make_request, now):
    verifier = make_verifier("github", "old", "new")
    request = make_request(b"{}", {"x-hub-signature-256": sign("new", b"{}")})
    assert verifier.verify(request, now).secret_index == 1


def test_a_retired_secret_no_longer_passes(make_verifier, make_request, now):
    retired = SecretSpec(value="old", not_after=now - timedelta(seconds=1))
    verifier = make_verifier("github", retired, "new")
    with pytest.raises(Rejected) as caught:
        verifier.verify(make_request(b"{}", {"x-hub-signature-256": sign("old", b"{}")}), now)
    assert caught.value.status == 401


def test_form_encoded_payload_is_verified_over_the_raw_bytes(make_verifier, make_request, now):
    body = b"payload=%7B%22zen%22%3A%22Keep+it+logically+awesome.%22%7D"
    verifier = make_verifier("github", "s3cret")
    request = make_request(
        body, {"x-hub-signature-256": sign("s3cret", body)}, content_type="application/x-www-form-urlencoded"
    )
    assert verifier.verify(request, now).secret_index == 0
    assert verifier.sends_json  # the handler skips its JSON check for form bodies only


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"x-hub-signature-256": "  "}, "missing"),
        ({"x-hub-signature-256": "sha1=" + "0" * 40}, "sha256="),
        ({"x-hub-signature-256": "sha256="}, "sha256="),
        ({"x-hub-signature-256": "sha256=not-hex"}, "not hex"),
        ({"x-hub-signature-256": sign("wrong", DOC_BODY)}, "does not match"),
        ({"x-hub-signature-256": sign(DOC_SECRET, DOC_BODY + b" ")}, "does not match"),
    ],
)
def test_rejections_are_401(make_verifier, make_request, now, headers, reason):
    with pytest.raises(Rejected) as caught:
        make_verifier("github", DOC_SECRET).verify(make_request(DOC_BODY, headers), now)
    assert caught.value.status == 401
    assert reason in caught.value.reason
    assert DOC_SECRET not in caught.value.reason


def test_get_is_405(make_verifier, make_request, now):
    with pytest.raises(Rejected) as caught:
        make_verifier("github", DOC_SECRET).verify(make_request(method="GET"), now)
    assert caught.value.status == 405


def test_default_and_configured_dedup_horizon(make_verifier):
    assert make_verifier("github", "s").dedup_horizon_s == 24 * 3600
    assert make_verifier("github", "s", dedup_horizon_s=60).dedup_horizon_s == 60
