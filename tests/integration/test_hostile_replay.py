"""Replays and dedup (issue 10, finding 5): a captured body replayed without its delivery id, or under
a new one where the source asks for body dedup, is not stored again; a Linear retry is one event; a
Twilio request stores the parameters it signed, in one canonical encoding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from test_hostile_input import stored_entries

from pipeline import SECRET, github_headers, ingress_app
from test_bad_input import raw_len

LINEAR_SECRET = "linear-secret"
TWILIO_TOKEN = "twilio-token"
BASE_URL = "https://hooks.example.com"
SOURCES = f"""
sources:
  - name: demo
    kind: github
    secrets: ["{SECRET}"]
  - name: issues
    kind: linear
    secrets: ["{LINEAR_SECRET}"]
  - name: sms
    kind: twilio
    secrets: ["{TWILIO_TOKEN}"]
"""


STRICT = f"""
  - name: strict
    kind: github
    secrets: ["{SECRET}"]
    dedup_on_body: true
"""


@pytest.fixture
async def client(redis_url: str, key_prefix: str, tmp_path: Path) -> AsyncIterator[TestClient]:
    app = ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SOURCES, public_base_url=BASE_URL)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_body_replayed_without_its_delivery_id_is_a_duplicate(
    client: TestClient, redis_url: str, key_prefix: str
) -> None:
    body = orjson.dumps({"ref": "refs/heads/main"})
    first = await client.post("/api/v1/events/demo", data=body, headers=github_headers(body))
    again = await client.post("/api/v1/events/demo", data=body, headers=github_headers(body))
    assert (first.status, again.status) == (202, 200)  # before: 202 twice, two rows
    assert await raw_len(redis_url, key_prefix) == 1


async def test_with_dedup_on_body_a_replay_under_a_new_delivery_id_is_a_duplicate(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    body = orjson.dumps({"ref": "refs/heads/main"})
    statuses = []
    app = ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SOURCES + STRICT, public_base_url=BASE_URL)
    async with TestClient(TestServer(app)) as client:
        for source, delivery in [("strict", "d-1"), ("strict", "d-2"), ("demo", "d-1"), ("demo", "d-2")]:
            headers = github_headers(body, delivery=delivery)
            statuses.append((await client.post(f"/api/v1/events/{source}", data=body, headers=headers)).status)
    # strict: the new id is no excuse; demo (default): a new id is a new delivery, as GitHub means it.
    assert statuses == [202, 200, 202, 202]
    assert await raw_len(redis_url, key_prefix) == 3


def linear(body: dict[str, object], delivery: str) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    signature = hmac.new(LINEAR_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"Linear-Signature": signature, "Linear-Delivery": delivery, "Content-Type": "application/json"}


async def test_a_linear_retry_re_signed_with_a_new_timestamp_is_one_event(
    client: TestClient, redis_url: str, key_prefix: str
) -> None:
    now_ms = int(time.time() * 1000)
    statuses = []
    for sent_ms in (now_ms - 2000, now_ms):
        body, headers = linear({"action": "create", "webhookTimestamp": sent_ms}, "dlv-7")
        statuses.append((await client.post("/api/v1/events/issues", data=body, headers=headers)).status)
    assert statuses == [202, 200]  # before: 202 twice
    assert await raw_len(redis_url, key_prefix) == 1


def twilio_signature(params: list[tuple[str, str]]) -> str:
    signed = f"{BASE_URL}/api/v1/events/sms" + "".join(n + v for n, v in sorted(params))
    return base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), signed.encode(), hashlib.sha1).digest()).decode()


async def test_twilio_stores_the_signed_parameters_in_one_encoding(
    client: TestClient, redis_url: str, key_prefix: str
) -> None:
    params = [("From", "+15550001111"), ("Body", "hello world")]
    encodings = [
        b"From=%2B15550001111&Body=hello+world",
        b"Body=hello%20world&From=" + quote("+15550001111").encode(),  # reordered, other escapes
    ]
    for i, body in enumerate(encodings):
        headers = {
            "X-Twilio-Signature": twilio_signature(params),
            "Content-Type": "application/x-www-form-urlencoded",
            "I-Twilio-Idempotency-Token": f"tok-{i}",
        }
        r = await client.post("/api/v1/events/sms", data=body, headers=headers)
        assert r.status == 202
    bodies = {fields[b"body"] for fields in await stored_entries(redis_url, key_prefix)}
    assert bodies == {b"Body=hello+world&From=%2B15550001111"}  # what was signed, not the bytes sent
