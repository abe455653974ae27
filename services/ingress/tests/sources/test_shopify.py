"""Shopify: base64 HMAC-SHA256 of the raw body (Shopify publishes no test vector: the expected
value is computed here with the standard library), keyed by X-Shopify-Webhook-Id."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from reflex_ingress.sources.request import Rejected
from reflex_ingress.sources.verifier import body_bound_key

SECRET = "shpss_0123456789abcdef"
BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(signature: str) -> dict[str, str]:
    return {
        "X-Shopify-Hmac-Sha256": signature,
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    }


def test_signed_delivery_is_accepted_and_keyed_by_webhook_id(make_verifier, make_request, now):
    verified = make_verifier("shopify", "old", SECRET).verify(make_request(BODY, headers(sign(SECRET, BODY))), now)
    assert verified.delivery_key == body_bound_key("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043", BODY)
    assert verified.secret_index == 1


@pytest.mark.parametrize(
    "signature",
    ["", "not base64!", sign("wrong", BODY), sign(SECRET, BODY + b" "), sign(SECRET, BODY).swapcase()],
)
def test_rejections_are_401(make_verifier, make_request, now, signature):
    request_headers = headers(signature) if signature else {}
    with pytest.raises(Rejected) as caught:
        make_verifier("shopify", SECRET).verify(make_request(BODY, request_headers), now)
    assert caught.value.status == 401


def test_dedup_horizon_covers_48_hours_of_retries(make_verifier):
    assert make_verifier("shopify", SECRET).dedup_horizon_s >= 48 * 3600
