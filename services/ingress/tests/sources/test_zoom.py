"""Zoom: v0 signatures over `v0:{timestamp}:{body}`, and the endpoint.url_validation answer."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from reflex_ingress.sources.request import Rejected

SECRET = "zoom-secret-token"


def event(make_request, now, payload: dict[str, object], secret: str = SECRET, age_s: int = 0):
    body = json.dumps(payload).encode()
    ts = str(int(now.timestamp()) - age_s)
    signature = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return make_request(body, {"x-zm-signature": f"v0={signature}", "x-zm-request-timestamp": ts})


def test_url_validation_is_answered_as_documented(make_verifier, make_request, now):
    request = event(
        make_request,
        now,
        {
            "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"},
            "event_ts": 1654503849680,
            "event": "endpoint.url_validation",
        },
    )
    verified = make_verifier("zoom", "other", SECRET).verify(request, now)
    assert verified.reply is not None
    assert (verified.reply.status, verified.reply.content_type) == (200, "application/json")
    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert json.loads(verified.reply.body) == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}
    assert verified.secret_index == 1


def test_url_validation_without_plain_token_is_400(make_verifier, make_request, now):
    request = event(make_request, now, {"payload": {}, "event": "endpoint.url_validation"})
    with pytest.raises(Rejected) as caught:
        make_verifier("zoom", SECRET).verify(request, now)
    assert caught.value.status == 400


def test_events_are_keyed_by_body_hash(make_verifier, make_request, now):
    payload = {"event": "meeting.started", "event_ts": 1626230691572, "payload": {"object": {"id": "1"}}}
    request = event(make_request, now, payload)
    verified = make_verifier("zoom", SECRET).verify(request, now)
    assert verified.delivery_key == "sha256:" + hashlib.sha256(request.body).hexdigest()


@pytest.mark.parametrize(("secret", "age_s"), [("wrong", 0), (SECRET, 301), (SECRET, -301)])
def test_wrong_secret_or_stale_is_401(make_verifier, make_request, now, secret, age_s):
    with pytest.raises(Rejected) as caught:
        make_verifier("zoom", SECRET).verify(event(make_request, now, {"event": "x"}, secret, age_s), now)
    assert caught.value.status == 401


def test_unsigned_url_validation_gets_no_answer(make_verifier, make_request, now):
    body = b'{"payload":{"plainToken":"p"},"event":"endpoint.url_validation"}'
    with pytest.raises(Rejected) as caught:
        make_verifier("zoom", SECRET).verify(make_request(body), now)
    assert caught.value.status == 401
