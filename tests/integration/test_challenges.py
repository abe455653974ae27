"""Providers' endpoint challenges answered by the running ingress over HTTP, nothing queued."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import orjson
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from pipeline import ingress_app
from reflex_common.keys import Keys

SOURCES = """
sources:
  - {name: slack, kind: slack, secrets: ["slack-signing-secret"]}
  - {name: meta, kind: meta, secrets: ["app-secret"], options: {verify_token: "verify-me"}}
  - {name: zoom, kind: zoom, secrets: ["zoom-secret"]}
"""


def slack_headers(body: bytes, secret: str = "slack-signing-secret") -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={sig}", "Content-Type": "application/json"}


def zoom_headers(body: bytes) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = hmac.new(b"zoom-secret", b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"x-zm-request-timestamp": ts, "x-zm-signature": f"v0={sig}", "Content-Type": "application/json"}


async def test_challenges_are_answered_at_the_ingress_and_nothing_is_queued(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    app = ingress_app(redis_url, key_prefix, tmp_path, sources_yaml=SOURCES)
    async with TestClient(TestServer(app)) as client:
        body = orjson.dumps({"type": "url_verification", "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2"})
        r = await client.post("/api/v1/events/slack", data=body, headers=slack_headers(body))
        assert r.status == 200 and await r.text() == "3eZbrw1aBm2rZgRNFdxV2"
        # The same challenge with a bad signature is refused: challenges are verified too.
        r = await client.post("/api/v1/events/slack", data=body, headers=slack_headers(body, "wrong"))
        assert r.status == 401

        r = await client.get(
            "/api/v1/events/meta",
            params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
        )
        assert r.status == 200 and await r.text() == "1158201444"
        r = await client.get(
            "/api/v1/events/meta", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
        )
        assert r.status == 403

        body = orjson.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
        r = await client.post("/api/v1/events/zoom", data=body, headers=zoom_headers(body))
        assert r.status == 200
        expected = hmac.new(b"zoom-secret", b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
        assert await r.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}

        # A real event on the same source is queued.
        body = orjson.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}})
        r = await client.post("/api/v1/events/slack", data=body, headers=slack_headers(body))
        assert r.status == 202
    async with Redis.from_url(redis_url) as r:
        assert await r.xlen(Keys(key_prefix).raw_stream) == 1
