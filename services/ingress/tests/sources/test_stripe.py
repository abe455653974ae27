"""Stripe, with the `stripe` library as the oracle: it signs, we accept; tampered, we reject."""

from __future__ import annotations

import json

import pytest
from stripe import WebhookSignature

from reflex_ingress.sources.request import Rejected

SECRET = "whsec_test_9f2c1d"
BODY = json.dumps({"id": "evt_1NG8Du2eZvKYlo2CUI79vXWy", "object": "event", "type": "charge.succeeded"}).encode()


def header(payload: bytes, secret: str, timestamp: int) -> str:
    return WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=timestamp)


def test_a_stripe_signed_event_is_accepted_and_keyed_by_its_id(make_verifier, make_request, now):
    request = make_request(BODY, {"Stripe-Signature": header(BODY, SECRET, int(now.timestamp()))})
    verified = make_verifier("stripe", SECRET).verify(request, now)
    assert verified.delivery_key == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
    assert verified.secret_index == 0


def test_several_v1_signatures_any_one_passes(make_verifier, make_request, now):
    ts = int(now.timestamp())
    good = header(BODY, "whsec_new", ts).split("v1=")[1]
    value = f"t={ts},v1={'ab' * 32},v0={'cd' * 32},v1={good}"
    verified = make_verifier("stripe", "whsec_old", "whsec_new").verify(
        make_request(BODY, {"stripe-signature": value}), now
    )
    assert verified.secret_index == 1


def test_spaces_after_commas_are_tolerated(make_verifier, make_request, now):
    value = header(BODY, SECRET, int(now.timestamp())).replace(",", ", ")
    assert make_verifier("stripe", SECRET).verify(make_request(BODY, {"stripe-signature": value}), now)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, sig: (body + b"\n", sig),
        lambda body, sig: (body.replace(b"charge", b"chargE"), sig),
        lambda body, sig: (body, sig.replace("t=", "t=1")),
        lambda body, sig: (body, sig[:-1] + ("0" if sig[-1] != "0" else "1")),
        lambda body, sig: (body, sig.split(",")[0]),
        lambda body, sig: (body, sig.split(",")[1]),
        lambda body, sig: (body, ""),
    ],
)
def test_tampered_requests_are_401(make_verifier, make_request, now, tamper):
    body, sig = tamper(BODY, header(BODY, SECRET, int(now.timestamp())))
    headers = {"stripe-signature": sig} if sig else {}
    with pytest.raises(Rejected) as caught:
        make_verifier("stripe", SECRET).verify(make_request(body, headers), now)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("age_s", "window_s", "ok"),
    [(299, None, True), (301, None, False), (-301, None, False), (1000, 1200, True), (1300, 1200, False)],
)
def test_replay_window_default_and_configured(make_verifier, make_request, now, age_s, window_s, ok):
    fields = {"replay_window_s": window_s} if window_s else {}
    verifier = make_verifier("stripe", SECRET, **fields)
    request = make_request(BODY, {"stripe-signature": header(BODY, SECRET, int(now.timestamp()) - age_s)})
    if ok:
        assert verifier.verify(request, now).secret_index == 0
    else:
        with pytest.raises(Rejected, match="replay window"):
            verifier.verify(request, now)


def test_a_signed_body_that_is_not_json_is_400(make_verifier, make_request, now):
    body = b"not json"
    request = make_request(body, {"stripe-signature": header(body, SECRET, int(now.timestamp()))})
    with pytest.raises(Rejected) as caught:
        make_verifier("stripe", SECRET).verify(request, now)
    assert caught.value.status == 400


def test_dedup_horizon_covers_stripes_three_days_of_retries(make_verifier):
    assert make_verifier("stripe", SECRET).dedup_horizon_s >= 3 * 24 * 3600
