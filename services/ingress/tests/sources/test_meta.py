"""Meta: sha256= signatures with the app secret, and the GET subscription challenge."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from reflex_common.errors import ConfigError
from reflex_ingress.sources.request import Rejected

BODY = b'{"object":"page","entry":[{"id":"1","time":1717243200,"changes":[]}]}'
CHALLENGE = {"hub.mode": "subscribe", "hub.verify_token": "meta-verify", "hub.challenge": "1158201444"}


def sign(secret: str, body: bytes = BODY) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signed_notification_keyed_by_body_hash(make_verifier, make_request, now):
    verified = make_verifier("meta", "app-1", "app-2").verify(
        make_request(BODY, {"X-Hub-Signature-256": sign("app-2")}), now
    )
    assert verified.secret_index == 1
    assert verified.delivery_key == "sha256:" + hashlib.sha256(BODY).hexdigest()


def test_subscription_challenge_is_answered(make_verifier, make_request, now):
    verifier = make_verifier("meta", "app", options={"verify_token": "meta-verify"})
    verified = verifier.verify(make_request(method="GET", query=CHALLENGE, content_type=""), now)
    assert verified.reply is not None
    assert (verified.reply.status, verified.reply.body, verified.reply.content_type) == (
        200,
        b"1158201444",
        "text/plain",
    )


def test_verify_token_from_env_or_file(make_verifier, make_request, now, monkeypatch, tmp_path):
    monkeypatch.setenv("META_VERIFY", "meta-verify")
    (tmp_path / "token").write_text("meta-verify\n")
    for ref in ("env:META_VERIFY", f"file:{tmp_path / 'token'}"):
        verifier = make_verifier("meta", "app", options={"verify_token": ref})
        assert verifier.verify(make_request(method="GET", query=CHALLENGE), now).reply is not None


@pytest.mark.parametrize(
    ("query", "options"),
    [
        ({**CHALLENGE, "hub.verify_token": "wrong"}, {"verify_token": "meta-verify"}),
        ({**CHALLENGE, "hub.mode": "unsubscribe"}, {"verify_token": "meta-verify"}),
        ({k: v for k, v in CHALLENGE.items() if k != "hub.challenge"}, {"verify_token": "meta-verify"}),
        ({}, {"verify_token": "meta-verify"}),
        (CHALLENGE, {}),
    ],
)
def test_bad_challenges_are_403(make_verifier, make_request, now, query, options):
    with pytest.raises(Rejected) as caught:
        make_verifier("meta", "app", options=options).verify(make_request(method="GET", query=query), now)
    assert caught.value.status == 403
    assert "meta-verify" not in caught.value.reason


def test_unresolvable_verify_token_is_a_config_error(make_verifier):
    with pytest.raises(ConfigError, match="verify_token"):
        make_verifier("meta", "app", options={"verify_token": "env:REFLEX_TEST_UNSET_VARIABLE"})


@pytest.mark.parametrize("header", [None, "sha1=abcd", "sha256=zz", sign("wrong"), sign("app", BODY + b"\n")])
def test_bad_signatures_are_401(make_verifier, make_request, now, header):
    headers = {} if header is None else {"x-hub-signature-256": header}
    with pytest.raises(Rejected) as caught:
        make_verifier("meta", "app").verify(make_request(BODY, headers), now)
    assert caught.value.status == 401
