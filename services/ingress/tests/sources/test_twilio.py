"""Twilio: the documented example, `twilio.request_validator.RequestValidator` as the oracle, port
variants, JSON bodies under bodySHA256, GET webhooks, SharedKey (HMAC-SHA256) signatures."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from reflex_ingress.sources.request import Rejected
from reflex_ingress.sources.verifier import body_bound_key

FORM = "application/x-www-form-urlencoded"
# Twilio's published example (and its helper libraries' tests): auth token 12345.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
DOC_JSON_BODY = b'{"property": "value", "boolean": true}'
DOC_JSON_URL = DOC_URL + "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
DOC_JSON_SIGNATURE = "a9nBmqA0ju/hNViExpshrM61xv4="


def form(make_request, url: str, params: dict[str, str], signature: str, **headers: str):
    return make_request(
        urlencode(params).encode(), {"X-Twilio-Signature": signature, **headers}, url=url, content_type=FORM
    )


def test_documented_form_example_verifies(make_verifier, make_request, now):
    verifier = make_verifier("twilio", DOC_TOKEN)
    request = form(make_request, DOC_URL, DOC_PARAMS, DOC_SIGNATURE, **{"I-Twilio-Idempotency-Token": "idem-1"})
    verified = verifier.verify(request, now)
    assert (verified.delivery_key, verified.secret_index) == (body_bound_key("idem-1", request.body), 0)
    assert not verifier.sends_json


def test_documented_json_example_verifies(make_verifier, make_request, now):
    request = make_request(DOC_JSON_BODY, {"X-Twilio-Signature": DOC_JSON_SIGNATURE}, url=DOC_JSON_URL)
    assert make_verifier("twilio", DOC_TOKEN).verify(request, now).secret_index == 0


def test_json_body_not_matching_its_hash_is_401(make_verifier, make_request, now):
    request = make_request(DOC_JSON_BODY + b" ", {"X-Twilio-Signature": DOC_JSON_SIGNATURE}, url=DOC_JSON_URL)
    with pytest.raises(Rejected, match="bodySHA256"):
        make_verifier("twilio", DOC_TOKEN).verify(request, now)


def test_json_body_without_body_hash_is_401(make_verifier, make_request, now):
    signature = RequestValidator(DOC_TOKEN).compute_signature(DOC_URL, {})
    request = make_request(DOC_JSON_BODY, {"X-Twilio-Signature": signature}, url=DOC_URL)
    with pytest.raises(Rejected) as caught:
        make_verifier("twilio", DOC_TOKEN).verify(request, now)
    assert caught.value.status == 401


@pytest.mark.parametrize(
    ("signed_url", "request_url"),
    [
        ("https://example.com:443/sms", "https://example.com/sms"),
        ("https://example.com/sms", "https://example.com:443/sms"),
        ("http://example.com:80/sms?x=1", "http://example.com/sms?x=1"),
    ],
)
def test_url_with_or_without_default_port(make_verifier, make_request, now, signed_url, request_url):
    params = {"Body": "hello world & more", "From": "+15005550006"}
    signature = RequestValidator("tok").compute_signature(signed_url, params)
    assert make_verifier("twilio", "tok").verify(form(make_request, request_url, params, signature), now)


def test_the_validator_agrees_with_what_we_accept(make_verifier, make_request, now):
    params = {"b": "2", "a": "1", "A": "0", "Body": "ünïcode"}
    url = "https://hooks.example.com/api/v1/events/twilio"
    signature = RequestValidator("tok").compute_signature(url, params)
    make_verifier("twilio", "other", "tok").verify(form(make_request, url, params, signature), now)
    assert RequestValidator("tok").validate(url, params, signature)


def test_get_webhooks_sign_the_url_alone(make_verifier, make_request, now):
    url = "https://example.com/voice?CallSid=CA1&From=%2B15005550006"
    signature = RequestValidator("tok").compute_signature(url, {})
    request = make_request(b"", {"X-Twilio-Signature": signature}, url=url, method="GET", content_type="")
    assert make_verifier("twilio", "tok").verify(request, now).secret_index == 0


def test_shared_key_signatures_use_hmac_sha256(make_verifier, make_request, now):
    url = "https://example.com/sms"
    params = {"Body": "hi"}
    signature = RequestValidator("sk").compute_signature(url, params, algorithm="HMAC_SHA256")
    settings = {"X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"}
    assert make_verifier("twilio", "sk").verify(form(make_request, url, params, signature, **settings), now)
    unknown = {"X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"}
    with pytest.raises(Rejected):
        make_verifier("twilio", "sk").verify(form(make_request, url, params, signature, **unknown), now)


@pytest.mark.parametrize(
    "change",
    ["param-value", "param-added", "url-path", "url-host", "url-query", "signature", "missing", "not-base64", "secret"],
)
def test_tampering_is_401(make_verifier, make_request, now, change):
    params = dict(DOC_PARAMS)
    url, signature, token = DOC_URL, DOC_SIGNATURE, DOC_TOKEN
    headers: dict[str, str] = {}
    if change == "param-value":
        params["Digits"] = "1235"
    elif change == "param-added":
        params["Extra"] = ""
    elif change == "url-path":
        url = url.replace("myapp", "yourapp")
    elif change == "url-host":
        url = url.replace("mycompany.com", "mycompany.com.evil")
    elif change == "url-query":
        url = url.replace("foo=1", "foo=2")
    elif change == "signature":
        signature = "A" + signature[1:]
    elif change == "not-base64":
        signature = "***"
    elif change == "secret":
        token = "54321"
    request = form(make_request, url, params, signature, **headers)
    if change == "missing":
        request = make_request(request.body, {}, url=url, content_type=FORM)
    with pytest.raises(Rejected) as caught:
        make_verifier("twilio", token).verify(request, now)
    assert caught.value.status == 401


def test_form_body_that_is_not_utf8_is_400(make_verifier, make_request, now):
    request = make_request(b"Body=\xff", {"X-Twilio-Signature": DOC_SIGNATURE}, content_type=FORM)
    with pytest.raises(Rejected) as caught:
        make_verifier("twilio", DOC_TOKEN).verify(request, now)
    assert caught.value.status == 400


def test_json_params_are_not_read_from_json(make_verifier, make_request, now):
    body = json.dumps(DOC_PARAMS).encode()
    request = make_request(body, {"X-Twilio-Signature": DOC_SIGNATURE}, url=DOC_URL)
    with pytest.raises(Rejected):
        make_verifier("twilio", DOC_TOKEN).verify(request, now)
