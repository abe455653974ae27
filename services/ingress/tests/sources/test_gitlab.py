"""GitLab: the secret token compared in constant time; event UUID, else Idempotency-Key."""

from __future__ import annotations

import pytest

from reflex_ingress.sources.request import Rejected
from reflex_ingress.sources.verifier import body_bound_key


def test_token_matches_and_event_uuid_is_the_key(make_verifier, make_request, now):
    request = make_request(b"{}", {"X-Gitlab-Token": "tok-2", "X-Gitlab-Event-UUID": "u-1", "Idempotency-Key": "i-1"})
    verified = make_verifier("gitlab", "tok-1", "tok-2").verify(request, now)
    assert (verified.delivery_key, verified.secret_index) == (body_bound_key("u-1", b"{}"), 1)


def test_idempotency_key_when_no_event_uuid(make_verifier, make_request, now):
    request = make_request(b"{}", {"X-Gitlab-Token": "tok-1", "Idempotency-Key": "i-1"})
    assert make_verifier("gitlab", "tok-1").verify(request, now).delivery_key == body_bound_key("i-1", b"{}")


@pytest.mark.parametrize("token", [None, "", "tok", "tok-11", "TOK-1"])
def test_wrong_or_missing_token_is_401(make_verifier, make_request, now, token):
    headers = {} if token is None else {"X-Gitlab-Token": token}
    with pytest.raises(Rejected) as caught:
        make_verifier("gitlab", "tok-1").verify(make_request(b"{}", headers), now)
    assert caught.value.status == 401
    assert "tok-1" not in caught.value.reason
