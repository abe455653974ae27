"""Hostile or odd input against the ingress app with real Redis (issue 10, findings 3, 4 and 6):
nothing is accepted that the pipeline cannot store, nothing unauthenticated gets a 5xx, and refusals
say what was wrong in our words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipeline import SECRET, github_headers, ingress_app
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
    app = ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SOURCES)
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
