"""Twitch EventSub: signature over id + timestamp + body, RFC 3339 timestamps within 10 minutes,
the webhook_callback_verification challenge answered with the raw challenge as text/plain."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from reflex_ingress.sources.request import Rejected

SECRET = "twitch-eventsub-secret"
MESSAGE_ID = "e76c6bd4-55c9-4987-8304-da1588d8988b"


def message(
    make_request,
    now,
    body: bytes,
    kind: str = "notification",
    *,
    age: timedelta = timedelta(0),
    secret: str = SECRET,
    timestamp: str | None = None,
):
    ts = timestamp or (now - age).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    signature = hmac.new(secret.encode(), MESSAGE_ID.encode() + ts.encode() + body, hashlib.sha256).hexdigest()
    return make_request(
        body,
        {
            "Twitch-Eventsub-Message-Id": MESSAGE_ID,
            "Twitch-Eventsub-Message-Timestamp": ts,
            "Twitch-Eventsub-Message-Signature": f"sha256={signature}",
            "Twitch-Eventsub-Message-Type": kind,
            "Twitch-Eventsub-Subscription-Type": "channel.follow",
        },
    )


def test_notification_keyed_by_message_id(make_verifier, make_request, now):
    body = b'{"subscription":{"type":"channel.follow"},"event":{"user_id":"1"}}'
    verified = make_verifier("twitch", SECRET).verify(message(make_request, now, body), now)
    assert (verified.delivery_key, verified.secret_index, verified.reply) == (MESSAGE_ID, 0, None)


def test_revocation_is_an_event(make_verifier, make_request, now):
    body = b'{"subscription":{"status":"authorization_revoked"}}'
    verified = make_verifier("twitch", SECRET).verify(message(make_request, now, body, "revocation"), now)
    assert verified.reply is None and verified.delivery_key == MESSAGE_ID


def test_verification_challenge_is_answered_with_the_raw_challenge(make_verifier, make_request, now):
    body = json.dumps(
        {
            "challenge": "pogchamp-kappa-360noscope-vohiyo",
            "subscription": {"status": "webhook_callback_verification_pending"},
        }
    ).encode()
    verified = make_verifier("twitch", SECRET).verify(
        message(make_request, now, body, "webhook_callback_verification"), now
    )
    assert verified.reply is not None
    assert (verified.reply.status, verified.reply.body, verified.reply.content_type) == (
        200,
        b"pogchamp-kappa-360noscope-vohiyo",
        "text/plain",
    )
    with pytest.raises(Rejected):  # an unsigned challenge gets no answer
        make_verifier("twitch", SECRET).verify(
            message(make_request, now, body, "webhook_callback_verification", secret="x"), now
        )


@pytest.mark.parametrize(
    ("age", "ok"),
    [
        (timedelta(minutes=9, seconds=59), True),
        (timedelta(minutes=10, seconds=1), False),
        (timedelta(minutes=-11), False),
    ],
)
def test_ten_minute_window(make_verifier, make_request, now, age, ok):
    request = message(make_request, now, b"{}", age=age)
    if ok:
        make_verifier("twitch", SECRET).verify(request, now)
    else:
        with pytest.raises(Rejected, match="replay window"):
            make_verifier("twitch", SECRET).verify(request, now)


@pytest.mark.parametrize("timestamp", ["yesterday", "2024-06-01T12:00:00"])
def test_malformed_or_zoneless_timestamp_is_401(make_verifier, make_request, now, timestamp):
    with pytest.raises(Rejected) as caught:
        make_verifier("twitch", SECRET).verify(message(make_request, now, b"{}", timestamp=timestamp), now)
    assert caught.value.status == 401


@pytest.mark.parametrize("missing", ["id", "timestamp", "signature", "type"])
def test_missing_headers_are_401(make_verifier, make_request, now, missing):
    request = message(make_request, now, b"{}")
    headers = {k: v for k, v in request.headers.items() if k != f"twitch-eventsub-message-{missing}"}
    with pytest.raises(Rejected) as caught:
        make_verifier("twitch", SECRET).verify(make_request(b"{}", headers), now)
    assert caught.value.status == 401
