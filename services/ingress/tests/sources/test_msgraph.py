"""Microsoft Graph: the validationToken handshake and clientState on every notification."""

from __future__ import annotations

import json

import pytest

from reflex_ingress.sources.request import Rejected


def notifications(*states: object) -> bytes:
    return json.dumps(
        {
            "value": [
                {"subscriptionId": "sub-1", "clientState": s, "changeType": "created", "resource": "Users/1/Messages/2"}
                for s in states
            ]
        }
    ).encode()


def test_validation_token_is_echoed_as_text(make_verifier, make_request, now):
    token = "Validation: Testing client application reachability for subscription Request-Id: 1 & <b>"
    request = make_request(b"", query={"validationToken": token}, content_type="text/plain")
    verified = make_verifier("msgraph", "state-1").verify(request, now)
    assert verified.reply is not None
    assert (verified.reply.status, verified.reply.body, verified.reply.content_type) == (
        200,
        token.encode(),
        "text/plain",
    )


def test_notifications_pass_when_every_client_state_matches(make_verifier, make_request, now):
    verified = make_verifier("msgraph", "state-1", "state-2").verify(
        make_request(notifications("state-2", "state-1")), now
    )
    assert (verified.secret_index, verified.delivery_key, verified.reply) == (1, None, None)


@pytest.mark.parametrize("states", [("wrong",), ("state-1", "wrong"), (None,), ("",), (123,)])
def test_a_bad_client_state_is_401(make_verifier, make_request, now, states):
    with pytest.raises(Rejected) as caught:
        make_verifier("msgraph", "state-1").verify(make_request(notifications(*states)), now)
    assert caught.value.status == 401


@pytest.mark.parametrize("body", [b"nope", b"[]", b"{}", b'{"value": []}', b'{"value": {}}'])
def test_malformed_bodies_are_400(make_verifier, make_request, now, body):
    with pytest.raises(Rejected) as caught:
        make_verifier("msgraph", "state-1").verify(make_request(body), now)
    assert caught.value.status == 400
