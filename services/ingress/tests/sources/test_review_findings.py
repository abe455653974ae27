"""Findings of a security review, each kept fixed: nothing here may accept, store a secret, or 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reflex_common.errors import ConfigError
from reflex_ingress.handlers import kept_headers
from reflex_ingress.sources.config import SourceConfig, load_sources
from reflex_ingress.sources.registry import build_source, build_sources
from reflex_ingress.sources.request import Rejected


def test_a_token_in_a_header_of_any_name_is_never_stored(make_verifier, make_request, now):
    verifier = make_verifier("token", "s3cret-token", options={"header": "X-Api-Key"})
    headers = {"x-api-key": "s3cret-token", "content-type": "application/json", "user-agent": "ua"}
    verified = verifier.verify(make_request(b"{}", headers), now)
    allowed = frozenset({"x-api-key", "content-type", "user-agent"})  # even were it allow-listed
    kept = kept_headers(headers, allowed, verified.secret_headers)
    assert kept == {"content-type": "application/json", "user-agent": "ua"}


def test_a_secret_retirement_instant_without_a_time_zone_stops_the_start(tmp_path: Path):
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n- name: gh\n  kind: github\n  secrets:\n  - value: s3cret\n    not_after: 2030-01-01 00:00:00\n"
    )
    with pytest.raises(ConfigError, match="not_after"):
        build_sources(load_sources(path))


def test_twilio_refuses_a_non_ascii_body_hash_with_401_not_500(make_verifier, make_request, now):
    request = make_request(
        b"{}",
        {"X-Twilio-Signature": "eHh4eHh4eHh4eHh4eHh4eHh4eHg="},
        url="https://hooks.example.com/api/v1/events/t?bodySHA256=%C3%A9",
    )
    with pytest.raises(Rejected) as rejected:
        make_verifier("twilio", "authtoken").verify(request, now)
    assert rejected.value.status == 401


def test_sns_refuses_a_topic_that_is_not_text(make_request, now):
    verifier = build_source(
        SourceConfig(
            name="t", kind="sns", options={"topic_arns": ["arn:aws:sns:us-east-1:1:t"], "fetch_certificates": True}
        )
    ).verifier
    with pytest.raises(Rejected):
        verifier.verify(make_request(json.dumps({"Type": "Notification", "TopicArn": []}).encode(), {}), now)


def test_a_revoked_meta_verify_token_matches_no_empty_token(tmp_path: Path, make_request, now, monkeypatch):
    from reflex_ingress.sources import secrets

    token_file = tmp_path / "verify"
    token_file.write_text("verify-me")
    verifier = build_source(
        SourceConfig(name="m", kind="meta", secrets=["app"], options={"verify_token": f"file:{token_file}"})
    ).verifier
    clock = [1000.0]
    monkeypatch.setattr(secrets.time, "monotonic", lambda: clock[0])
    token_file.unlink()
    for _ in range(2):
        clock[0] += secrets.REVOKE_AFTER_S
        verifier.verify_token.value  # noqa: B018  (advance the revocation)
    request = make_request(b"", {}, method="GET")
    request = type(request)(
        method="GET",
        url=request.url,
        headers={},
        body=b"",
        content_type="",
        query={"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "123"},
    )
    with pytest.raises(Rejected) as rejected:
        verifier.verify(request, now)
    assert rejected.value.status == 403
