"""reflexctl.signing against published examples and the providers' own libraries."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
import standardwebhooks
import stripe
import svix
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator

from reflexctl.signing import SIGNERS, Delivery, sign, with_query


def delivery(secret: str, body: bytes, ts: int | None = None, **kw) -> Delivery:
    return Delivery(secret=secret, body=body, timestamp_s=int(time.time()) if ts is None else ts, **kw)


def test_github_documented_example():
    signed = sign("github", delivery("It's a Secret to Everybody", b"Hello, World!", delivery_id="d"))
    assert signed.headers["X-Hub-Signature-256"] == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )
    assert signed.headers["X-GitHub-Delivery"] == "d"


def test_slack_documented_example():
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    signed = sign("slack", delivery("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618))
    assert signed.headers["X-Slack-Signature"] == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_standard_webhooks_spec_example():
    signed = sign(
        "standard",
        delivery(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            b'{"test": 2432232314}',
            1614265330,
            delivery_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        ),
    )
    assert signed.headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_twilio_documented_example():
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    signed = sign("twilio", delivery("12345", json.dumps(params).encode(), url=url))
    assert signed.headers["X-Twilio-Signature"] == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert dict(parse_qsl(signed.body.decode())) == params


def test_twilio_documented_json_example():
    body = b'{"property": "value", "boolean": true}'
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    signed = sign("twilio", delivery("12345", body, url=url, options={"json": "true"}))
    assert signed.url_for(url) == (url + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620")
    assert signed.headers["X-Twilio-Signature"] == "a9nBmqA0ju/hNViExpshrM61xv4="
    assert RequestValidator("12345").validate(signed.url_for(url), body.decode(), signed.headers["X-Twilio-Signature"])


def test_twilio_validator_accepts_our_form_signature():
    params = {"Body": "hello & bye", "From": "+15005550006", "a": "1", "B": "2"}
    url = "https://hooks.example.com/api/v1/events/sms?src=x"
    signed = sign("twilio", delivery("tok", json.dumps(params).encode(), url=url))
    assert RequestValidator("tok").validate(
        url, dict(parse_qsl(signed.body.decode())), signed.headers["X-Twilio-Signature"]
    )
    assert not RequestValidator("tok").validate(url, {**params, "a": "2"}, signed.headers["X-Twilio-Signature"])


def test_stripe_library_accepts_our_signature_and_rejects_tampering():
    secret = "whsec_reflexctl"
    body = b'{"id":"evt_1","object":"event","type":"charge.succeeded"}'
    signed = sign("stripe", delivery(secret, body))
    header = signed.headers["Stripe-Signature"]
    assert stripe.WebhookSignature.verify_header(body.decode(), header, secret, tolerance=300)
    event = stripe.Webhook.construct_event(body, header, secret, api_key="sk_test_x")
    assert event["id"] == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode() + " ", header, secret, tolerance=300)
    ts = int(header.split(",")[0][2:])
    assert header == stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=ts)


def test_slack_sdk_accepts_our_signature_and_rejects_tampering():
    body = b'{"type":"event_callback","event_id":"Ev1"}'
    signed = sign("slack", delivery("slack-secret", body))
    assert SignatureVerifier("slack-secret").is_valid_request(body, signed.headers)
    assert not SignatureVerifier("slack-secret").is_valid_request(body + b" ", signed.headers)
    assert not SignatureVerifier("other").is_valid_request(body, signed.headers)


@pytest.mark.parametrize(
    "secret", ["whsec_" + base64.b64encode(b"k" * 24).decode(), base64.b64encode(b"k" * 9).decode()]
)
def test_standardwebhooks_and_svix_accept_our_signature(secret):
    body = b'{"type":"invoice.paid"}'
    signed = sign("standard", delivery(secret, body))
    assert standardwebhooks.Webhook(secret).verify(body, signed.headers) == {"type": "invoice.paid"}
    svix_signed = sign("standard", delivery(secret, body, options={"headers": "svix"}))
    assert set(svix_signed.headers) >= {"svix-id", "svix-timestamp", "svix-signature"}
    svix.Webhook(secret).verify(body, svix_signed.headers)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body + b" ", signed.headers)


def test_standardwebhooks_sign_equals_ours():
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()
    ts = 1717243200
    ours = sign("standard", delivery(secret, b"{}", ts, delivery_id="msg_9")).headers["webhook-signature"]
    theirs = standardwebhooks.Webhook(secret).sign("msg_9", datetime.fromtimestamp(ts, tz=UTC), "{}")
    assert ours == theirs


def test_with_query_appends():
    assert with_query("https://h/p", {"a": "1"}) == "https://h/p?a=1"
    assert with_query("https://h/p?x=2", {"a": "b c"}) == "https://h/p?x=2&a=b+c"
    assert with_query("https://h/p", {}) == "https://h/p"


def test_unknown_kind_is_a_value_error():
    with pytest.raises(ValueError, match="unknown kind"):
        sign("carrier-pigeon", delivery("s", b"{}"))


def test_every_kind_has_a_signer():
    assert "sns" in SIGNERS and "none" in SIGNERS and len(SIGNERS) == 19
