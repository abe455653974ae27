"""Hostile or odd input against the ingress app with real Redis (issue 10, findings 3, 4 and 6):
nothing is accepted that the pipeline cannot store, nothing unauthenticated gets a 5xx, and refusals
say what was wrong in our words."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from pipeline import SECRET, github_headers, ingress_app
from reflex_common.errors import ConfigError
from reflex_common.keys import Keys
from test_bad_input import raw_len

SOURCES = f"""
sources:
  - name: demo
    kind: github
    secrets: ["{SECRET}"]
  - name: open
    kind: none
  - name: sms
    kind: twilio
    secrets: ["twilio-token"]
  - name: aws
    kind: sns
    options:
      topic_arns: ["arn:aws:sns:us-east-1:123456789012:t"]
      certificates: {{}}
      fetch_certificates: true
"""
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def client(redis_url: str, key_prefix: str, tmp_path: Path) -> AsyncIterator[TestClient]:
    app = ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SOURCES, trust_forwarded_headers=True)
    async with TestClient(TestServer(app)) as client:
        yield client


def signed(body: bytes, **extra: str) -> dict[str, str]:
    return {**github_headers(body), **extra}


@pytest.mark.parametrize(
    ("name", "source", "body", "headers", "words"),
    [
        ("json nested 1,000 deep", "demo", b"[" * 1000 + b"]" * 1000, None, "deeper than 254"),
        ("json nested 300 deep", "demo", b"[" * 300 + b"]" * 300, None, "deeper than 254"),
        ("non-UTF-8 form on kind none", "open", b"a=\xff\xfe", FORM, "not UTF-8"),
        ("GitHub form without payload", "demo", b'{"a": 1}', FORM, "payload"),
        ("GitHub form whose payload is not JSON", "demo", b"payload=nope", FORM, "not valid JSON"),
    ],
)
async def test_what_the_store_cannot_take_is_refused_400(
    client: TestClient,
    redis_url: str,
    key_prefix: str,
    name: str,
    source: str,
    body: bytes,
    headers: dict[str, str] | None,
    words: str,
) -> None:
    # Before: 202, then RecursionError and five retries in the processor, or a dead letter, or a
    # form stored as {"<the JSON text>": ""}.
    r = await client.post(f"/api/v1/events/{source}", data=body, headers=signed(body, **(headers or {})))
    assert r.status == 400, name
    assert words in (await r.json())["error"]
    assert await raw_len(redis_url, key_prefix) == 0


async def test_a_github_form_with_its_payload_is_accepted(client: TestClient) -> None:
    body = b"payload=" + orjson.dumps({"zen": "ok"}).replace(b'"', b"%22")
    r = await client.post("/api/v1/events/demo", data=body, headers=signed(body, **FORM))
    assert r.status == 202


async def raw_bodies(redis_url: str, prefix: str) -> list[bytes]:
    async with Redis.from_url(redis_url) as r:
        return [fields[b"body"] for _, fields in await r.xrange(Keys(prefix).raw_stream)]


async def test_a_bad_gzip_body_is_400_and_a_good_one_is_verified_over_the_bytes_sent(
    client: TestClient, redis_url: str, key_prefix: str
) -> None:
    garbage = b"\x1f\x8b\x08\x00not gzip at all"
    r = await client.post("/api/v1/events/demo", data=garbage, headers=signed(garbage, **{"Content-Encoding": "gzip"}))
    assert r.status == 400 and "gzip" in (await r.json())["error"]  # before: 500 and a traceback
    packed = gzip.compress(b'{"packed": true}')
    r = await client.post("/api/v1/events/demo", data=packed, headers=signed(packed, **{"Content-Encoding": "gzip"}))
    assert r.status == 202  # signed over the compressed bytes, as sent
    assert await raw_bodies(redis_url, key_prefix) == [b'{"packed": true}']
    bomb = gzip.compress(b"[" + b"0," * 20_000_000 + b"0]")  # ~40 MB inflated, over the 25 MiB limit
    r = await client.post("/api/v1/events/demo", data=bomb, headers=signed(bomb, **{"Content-Encoding": "gzip"}))
    assert r.status == 413
    r = await client.post("/api/v1/events/demo", data=packed, headers=signed(packed, **{"Content-Encoding": "br"}))
    assert r.status == 415


@pytest.mark.parametrize("host", ["127.0.0.1:99999", "[::1", "h\u00e9st:80", ""])
async def test_a_twilio_request_with_a_bad_forwarded_host_is_4xx(client: TestClient, host: str) -> None:
    body = b"From=%2B15550001111&Body=hi"
    digest = base64.b64encode(hmac.new(b"twilio-token", b"x", hashlib.sha1).digest()).decode()
    headers = {**FORM, "X-Twilio-Signature": digest, "X-Forwarded-Host": host}
    r = await client.post("/api/v1/events/sms", data=body, headers=headers)
    assert r.status in (400, 401)  # before: 500 and a traceback


async def test_an_sns_certificate_url_with_a_tab_is_refused_before_any_fetch(client: TestClient) -> None:
    message = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
        "Message": "hi",
        "Timestamp": "2026-01-01T00:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "AAAA",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotification\tService-0123.pem",
    }
    r = await client.post("/api/v1/events/aws", data=orjson.dumps(message), headers={"Content-Type": "text/plain"})
    assert r.status == 401  # before: 500 (urlopen's InvalidURL)


async def stored_entries(redis_url: str, prefix: str) -> list[dict[bytes, bytes]]:
    async with Redis.from_url(redis_url) as r:
        return [fields for _, fields in await r.xrange(Keys(prefix).raw_stream)]


async def test_only_the_kinds_headers_are_kept_and_within_bounds(
    client: TestClient, redis_url: str, key_prefix: str
) -> None:
    body = orjson.dumps({"a": 1})
    junk = {f"X-H{i}": "v" * 50 for i in range(100)}
    headers = signed(body, **junk, **{"X-Big": "b" * 8000, "User-Agent": "GitHub-Hookshot/1", "Cookie": "c=1"})
    assert (await client.post("/api/v1/events/demo", data=body, headers=headers)).status == 202
    (fields,) = await stored_entries(redis_url, key_prefix)
    kept = orjson.loads(fields[b"headers"])
    assert set(kept) == {"content-type", "user-agent", "x-github-event"}  # before: every header, 13 KB


SLACK_SECRET = "slack-signing-secret"
GRAPH_STATE = "graph-client-state-secret"
SECRET_SOURCES = f"""
sources:
  - name: chat
    kind: slack
    secrets: ["{SLACK_SECRET}"]
  - name: graph
    kind: msgraph
    secrets: ["{GRAPH_STATE}"]
"""


def slack_headers(body: bytes, content_type: str) -> dict[str, str]:
    import time

    ts = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


async def test_configured_secrets_in_bodies_never_reach_the_stream(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    app = ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SECRET_SOURCES)
    async with TestClient(TestServer(app)) as client:
        graph = b'{"value": [{"clientState": "%s", "resource": "users/1", "id": 12345678901234567890123}]}' % (
            GRAPH_STATE.encode()
        )
        r = await client.post("/api/v1/events/graph", data=graph, headers={"Content-Type": "application/json"})
        assert r.status == 202
        event = orjson.dumps({"token": "slack-verification-token", "event_id": "Ev1", "event": {"type": "x"}})
        r = await client.post("/api/v1/events/chat", data=event, headers=slack_headers(event, "application/json"))
        assert r.status == 202
        command = b"token=slack-verification-token&command=%2Fdeploy&text=now"
        r = await client.post("/api/v1/events/chat", data=command, headers=slack_headers(command, FORM["Content-Type"]))
        assert r.status == 202
    bodies = [fields[b"body"] for fields in await stored_entries(redis_url, key_prefix)]
    assert len(bodies) == 3
    assert not any(GRAPH_STATE.encode() in b or b"slack-verification-token" in b for b in bodies)
    assert b"12345678901234567890123" in bodies[0]  # the rest of the body kept exactly
    assert b"command=%2Fdeploy" in bodies[2]


def test_a_twilio_source_needs_a_configured_public_url_and_the_host_header_is_never_used(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # Before: the Host header made the URL (`Host: 127.0.0.1:99999`, `[::1` or non-UTF-8 bytes: 500).
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SOURCES)
