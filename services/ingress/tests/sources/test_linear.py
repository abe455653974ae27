"""Linear: hex HMAC-SHA256 of the body; the signed body's webhookTimestamp (ms) within 60 s."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from reflex_ingress.sources.request import Rejected

SECRET = "lin_wh_secret"


def delivery(make_request, payload: dict[str, object], secret: str = SECRET):
    body = json.dumps(payload).encode()
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return make_request(body, {"Linear-Signature": signature, "Linear-Delivery": "del-1", "Linear-Event": "Issue"})


def test_signed_fresh_delivery_is_accepted(make_verifier, make_request, now):
    request = delivery(make_request, {"action": "create", "webhookTimestamp": int(now.timestamp() * 1000) - 59_000})
    verified = make_verifier("linear", SECRET).verify(request, now)
    assert (verified.delivery_key, verified.secret_index) == ("del-1", 0)  # Linear-Delivery as it is


@pytest.mark.parametrize("offset_ms", [-61_000, 61_000])
def test_stale_or_future_timestamp_is_401(make_verifier, make_request, now, offset_ms):
    request = delivery(make_request, {"webhookTimestamp": int(now.timestamp() * 1000) + offset_ms})
    with pytest.raises(Rejected, match="replay window"):
        make_verifier("linear", SECRET).verify(request, now)


def test_configured_window(make_verifier, make_request, now):
    request = delivery(make_request, {"webhookTimestamp": int(now.timestamp() * 1000) - 100_000})
    assert make_verifier("linear", SECRET, replay_window_s=120).verify(request, now)


@pytest.mark.parametrize("timestamp", [None, "1717243200000", True])
def test_missing_or_non_numeric_timestamp_is_401(make_verifier, make_request, now, timestamp):
    payload: dict[str, object] = {"action": "create"}
    if timestamp is not None:
        payload["webhookTimestamp"] = timestamp
    with pytest.raises(Rejected) as caught:
        make_verifier("linear", SECRET).verify(delivery(make_request, payload), now)
    assert caught.value.status == 401


def test_wrong_secret_or_missing_header_is_401(make_verifier, make_request, now):
    payload = {"webhookTimestamp": int(now.timestamp() * 1000)}
    with pytest.raises(Rejected):
        make_verifier("linear", SECRET).verify(delivery(make_request, payload, secret="other"), now)
    with pytest.raises(Rejected, match="missing"):
        make_verifier("linear", SECRET).verify(make_request(b"{}"), now)


def test_signed_non_json_is_400(make_verifier, make_request, now):
    body = b"[1,2]"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(Rejected) as caught:
        make_verifier("linear", SECRET).verify(make_request(body, {"linear-signature": signature}), now)
    assert caught.value.status == 400
