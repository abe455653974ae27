"""PagerDuty v3: `v1=<hex>` signatures, several in one header during rotation; key = event.id."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from reflex_ingress.sources.request import Rejected

BODY = b'{"event":{"id":"01DEN4HPBQAAAG05V5QQYBRZMF","event_type":"incident.triggered"}}'


def v1(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_signed_event_keyed_by_event_id(make_verifier, make_request, now):
    verified = make_verifier("pagerduty", "s1").verify(make_request(BODY, {"X-PagerDuty-Signature": v1("s1")}), now)
    assert (verified.delivery_key, verified.secret_index) == ("01DEN4HPBQAAAG05V5QQYBRZMF", 0)


def test_several_signatures_during_rotation(make_verifier, make_request, now):
    header = f"{v1('retired')}, {v1('s2')}"
    verified = make_verifier("pagerduty", "s1", "s2").verify(make_request(BODY, {"x-pagerduty-signature": header}), now)
    assert verified.secret_index == 1


@pytest.mark.parametrize("header", [None, "", "v0=abcd", "v1=zz", v1("wrong"), v1("s1", BODY + b" ")])
def test_rejections_are_401(make_verifier, make_request, now, header):
    headers = {} if header is None else {"x-pagerduty-signature": header}
    with pytest.raises(Rejected) as caught:
        make_verifier("pagerduty", "s1").verify(make_request(BODY, headers), now)
    assert caught.value.status == 401


def test_body_without_event_id_has_no_key(make_verifier, make_request, now):
    body = b'{"event":{"event_type":"pagey.ping"}}'
    verified = make_verifier("pagerduty", "s1").verify(
        make_request(body, {"x-pagerduty-signature": v1("s1", body)}), now
    )
    assert verified.delivery_key is None
