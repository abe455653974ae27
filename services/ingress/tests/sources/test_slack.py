"""Slack: the documented example, `slack_sdk`'s SignatureVerifier as the oracle, the url_verification
challenge, form-encoded slash commands."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from slack_sdk.signature import SignatureVerifier

from reflex_ingress.sources.request import Rejected

# docs.slack.dev "Verifying requests from Slack": the worked example.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
FORM = "application/x-www-form-urlencoded"
SECRET = "slack-signing-secret"


def signed(make_request, body: bytes, now: datetime, secret: str = SECRET, **kw):
    ts = str(int(now.timestamp()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return make_request(body, {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": ts}, **kw)


def test_documented_example_verifies(make_verifier, make_request):
    at = datetime.fromtimestamp(int(DOC_TIMESTAMP) + 30, tz=UTC)
    request = make_request(
        DOC_BODY, {"X-Slack-Signature": DOC_SIGNATURE, "X-Slack-Request-Timestamp": DOC_TIMESTAMP}, content_type=FORM
    )
    verified = make_verifier("slack", DOC_SECRET).verify(request, at)
    assert verified.secret_index == 0
    # Slash commands have no event id: an exact replay within the window is the same signed body.
    assert verified.delivery_key == "sha256:" + hashlib.sha256(DOC_BODY).hexdigest()


def test_events_are_keyed_by_event_id(make_verifier, make_request, now):
    body = json.dumps({"type": "event_callback", "event_id": "Ev08MFMKH6", "event": {"type": "message"}}).encode()
    verified = make_verifier("slack", "other", SECRET).verify(signed(make_request, body, now), now)
    assert (verified.delivery_key, verified.secret_index) == ("Ev08MFMKH6", 1)


def test_url_verification_is_answered_with_the_challenge_after_the_signature(make_verifier, make_request, now):
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    ).encode()
    verified = make_verifier("slack", SECRET).verify(signed(make_request, body, now), now)
    assert verified.reply is not None
    assert verified.reply.status == 200
    assert verified.reply.body == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert verified.reply.content_type == "text/plain"
    with pytest.raises(Rejected) as caught:  # unsigned challenge: no answer
        make_verifier("slack", SECRET).verify(signed(make_request, body, now, secret="wrong"), now)
    assert caught.value.status == 401


def test_url_verification_without_challenge_is_400(make_verifier, make_request, now):
    body = b'{"type":"url_verification"}'
    with pytest.raises(Rejected) as caught:
        make_verifier("slack", SECRET).verify(signed(make_request, body, now), now)
    assert caught.value.status == 400


def test_what_we_accept_the_sdk_accepts(make_verifier, make_request, now):
    body = b'{"type":"event_callback","event_id":"Ev1"}'
    request = signed(make_request, body, now)
    make_verifier("slack", SECRET).verify(request, now)

    class Clock:
        def now(self) -> float:
            return now.timestamp()

    assert SignatureVerifier(SECRET, clock=Clock()).is_valid_request(body, dict(request.headers))


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"x-slack-signature": "v0=" + "0" * 64}, 401),
        ({"x-slack-request-timestamp": "1717243200"}, 401),
        ({"x-slack-signature": "v1=" + "0" * 64, "x-slack-request-timestamp": "1717243200"}, 401),
        ({"x-slack-signature": "v0=zz", "x-slack-request-timestamp": "1717243200"}, 401),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "yesterday"}, 401),
        ({"x-slack-signature": "v0=" + "0" * 64, "x-slack-request-timestamp": "1717243200"}, 401),
    ],
)
def test_rejections(make_verifier, make_request, now, headers, status):
    with pytest.raises(Rejected) as caught:
        make_verifier("slack", SECRET).verify(make_request(b"{}", headers), now)
    assert caught.value.status == status


def test_stale_timestamp_is_401_even_when_signed(make_verifier, make_request, now):
    old = datetime.fromtimestamp(now.timestamp() - 301, tz=UTC)
    with pytest.raises(Rejected, match="replay window"):
        make_verifier("slack", SECRET).verify(signed(make_request, b"{}", old), now)


def test_signed_json_body_that_is_not_json_is_400(make_verifier, make_request, now):
    with pytest.raises(Rejected) as caught:
        make_verifier("slack", SECRET).verify(signed(make_request, b"{oops", now), now)
    assert caught.value.status == 400


def test_an_event_resent_as_form_keeps_its_event_id_key(make_verifier, make_request, now):
    """The unsigned Content-Type cannot strip the dedup key from a captured event."""
    body = b'{"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}}'
    ts = str(int(now.timestamp()))
    sig = "v0=" + hmac.new(b"slack-secret", b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Signature": sig, "X-Slack-Request-Timestamp": ts}
    verifier = make_verifier("slack", "slack-secret")
    as_json = verifier.verify(make_request(body, headers), now)
    as_form = verifier.verify(make_request(body, headers, content_type=FORM), now)
    assert as_json.delivery_key == as_form.delivery_key == "Ev1"
