"""The `token` and `basic` kinds: shared credentials compared in constant time."""

from __future__ import annotations

import base64

import pytest

from reflex_common.errors import ConfigError
from reflex_ingress.sources.request import Rejected
from reflex_ingress.sources.verifier import body_bound_key


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def test_bearer_token(make_verifier, make_request, now):
    verifier = make_verifier("token", "t-1", "t-2", options={"header": "Authorization", "prefix": "Bearer "})
    assert verifier.verify(make_request(b"{}", {"Authorization": "Bearer t-2"}), now).secret_index == 1
    assert verifier.verify(make_request(b"{}", {"authorization": "bearer   t-1"}), now).secret_index == 0


def test_plain_header_token_with_delivery_key(make_verifier, make_request, now):
    verifier = make_verifier("token", "t-1", options={"header": "X-Webhook-Token", "delivery_key_header": "X-Id"})
    verified = verifier.verify(make_request(b"{}", {"X-Webhook-Token": "t-1", "X-Id": "42"}), now)
    assert (verified.secret_index, verified.delivery_key) == (0, body_bound_key("42", b"{}"))


@pytest.mark.parametrize("value", [None, "", "t-1", "Bearer", "Bearer t-11", "Basic t-1", "Bearer T-1"])
def test_token_rejections_are_401(make_verifier, make_request, now, value):
    verifier = make_verifier("token", "t-1", options={"header": "Authorization", "prefix": "Bearer "})
    headers = {} if value is None else {"Authorization": value}
    with pytest.raises(Rejected) as caught:
        verifier.verify(make_request(b"{}", headers), now)
    assert caught.value.status == 401
    assert "t-1" not in caught.value.reason


def test_token_needs_a_header_option(make_verifier):
    with pytest.raises(ConfigError, match="header"):
        make_verifier("token", "t-1")


def test_basic_credentials(make_verifier, make_request, now):
    verifier = make_verifier("basic", "hook:pw-1", "hook:pw-2")
    assert verifier.verify(make_request(b"{}", basic("hook:pw-2")), now).secret_index == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("hook:pw"),
        basic("hook:pw-1 "),
        basic("other:pw-1"),
        {"Authorization": "Basic ***"},
        {"Authorization": "Bearer aG9vazpwdy0x"},
        {"Authorization": "Basic"},
    ],
)
def test_basic_rejections_are_401(make_verifier, make_request, now, headers):
    with pytest.raises(Rejected) as caught:
        make_verifier("basic", "hook:pw-1").verify(make_request(b"{}", headers), now)
    assert caught.value.status == 401


def test_basic_secrets_must_be_user_colon_password(make_verifier):
    with pytest.raises(ConfigError, match="user:password"):
        make_verifier("basic", "no-colon")
