"""WebhookRequest: header names are case-insensitive whoever builds the request."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reflex_ingress.sources.request import WebhookRequest

NAMES = ["X-Hub-Signature-256", "Stripe-Signature", "webhook-id", "X-Twilio-Signature"]


@given(name=st.sampled_from(NAMES), flips=st.lists(st.booleans(), min_size=30, max_size=30))
def test_any_casing_of_a_header_name_is_found(name, flips):
    cased = "".join(c.upper() if f else c.lower() for c, f in zip(name, flips, strict=False))
    request = WebhookRequest(method="POST", url="https://h/", headers={cased: "v"}, query={}, body=b"")
    assert request.header(name) == "v"
    assert request.header(name.upper()) == "v"
    assert dict(request.headers) == {name.lower(): "v"}
