"""Every refusal of the ingress answers as documented and stores nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from pipeline import github_headers, ingress_app, running_pipeline
from reflex_common.keys import Keys
from reflex_common.testing.servers import free_port
from reflex_ingress.keys import BACKLOG
from reflex_ingress.sources.verifier import body_bound_key


async def raw_len(redis_url: str, prefix: str) -> int:
    async with Redis.from_url(redis_url) as r:
        return int(await r.xlen(Keys(prefix).raw_stream))


async def test_refusals_store_nothing(redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path) -> None:
    async with running_pipeline(redis_url, migrated_db, key_prefix, tmp_path) as p:
        body = orjson.dumps({"ok": True})
        bad_sig = github_headers(body, secret="wrong")
        r = await p.client.post("/api/v1/events/demo", data=body, headers=bad_sig)
        assert r.status == 401 and "signature" in (await r.json())["error"]
        r = await p.client.post("/api/v1/events/demo", data=body, headers={"Content-Type": "application/json"})
        assert r.status == 401 and "missing" in (await r.json())["error"]
        not_json = b"{not json"
        r = await p.client.post("/api/v1/events/demo", data=not_json, headers=github_headers(not_json))
        assert r.status == 400 and "JSON" in (await r.json())["error"]
        r = await p.client.post("/api/v1/events/nope", data=body, headers=github_headers(body))
        assert r.status == 404
        big = orjson.dumps({"x": "y" * 100})
        r = await p.client.post("/api/v1/events/small", data=big, headers=github_headers(big))
        assert r.status == 413 and (await r.json())["max_body_bytes"] == 64

        # The limit holds without a Content-Length too (chunked upload): never a truncated event.
        async def chunks():  # type: ignore[no-untyped-def]
            yield big[:50]
            yield big[50:]

        r = await p.client.post("/api/v1/events/small", data=chunks(), headers=github_headers(big))
        assert r.status == 413
        assert await raw_len(redis_url, key_prefix) == 0
        ok = await p.post("demo", {"fine": 1})
        assert ok.status == 202
        assert await raw_len(redis_url, key_prefix) == 1


async def test_backlog_over_bound_is_429_with_retry_after(
    redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path
) -> None:
    async with running_pipeline(
        redis_url, migrated_db, key_prefix, tmp_path, max_backlog_entries=5, retry_after_s=7
    ) as p:
        for i in range(5):
            assert (await p.post("demo", {"i": i})).status == 202
        await p.client.app[BACKLOG].refresh()  # type: ignore[index]
        r = await p.post("demo", {"i": 5})
        assert r.status == 429
        assert r.headers["Retry-After"] == "7"
        assert await raw_len(redis_url, key_prefix) == 5
        # Once the processor catches up, the ingress accepts again.
        await p.processor.run(burst=True)
        await p.client.app[BACKLOG].refresh()  # type: ignore[index]
        assert (await p.post("demo", {"i": 6})).status == 202


async def test_redis_unavailable_is_503_with_retry_after(redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = ingress_app(dead_redis, key_prefix, tmp_path, redis_timeout_s=0.5, retry_after_s=3)
    async with TestClient(TestServer(app)) as client:
        body = orjson.dumps({"a": 1})
        r = await client.post("/api/v1/events/demo", data=body, headers=github_headers(body))
        assert r.status == 503
        assert r.headers["Retry-After"] == "3"
        assert (await client.get("/readyz")).status == 503
    # and nothing reached the real Redis under this prefix
    assert await raw_len(redis_url, key_prefix) == 0


async def test_a_repeated_delivery_key_is_answered_200_and_stored_once(
    redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path
) -> None:
    async with running_pipeline(redis_url, migrated_db, key_prefix, tmp_path) as p:
        first = await p.post("demo", {"a": 1}, delivery="dlv-1")
        assert first.status == 202
        first_id = (await first.json())["id"]
        again = await p.post("demo", {"a": 1}, delivery="dlv-1")
        assert again.status == 200
        assert await again.json() == {"id": first_id, "duplicate": True}
        assert (await p.post("demo", {"a": 1}, delivery="dlv-2")).status == 202
        assert await raw_len(redis_url, key_prefix) == 2
        async with Redis.from_url(redis_url) as r:
            key = body_bound_key("dlv-1", orjson.dumps({"a": 1}))  # GitHub does not sign the delivery id
            ttl = await r.ttl(Keys(key_prefix).dedup_key("demo", key or ""))
        assert 0 < ttl <= 24 * 3600


async def test_the_raw_readers_group_exists_before_any_processor_and_comes_back(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    app = ingress_app(redis_url, key_prefix, tmp_path)
    stream = Keys(key_prefix).raw_stream
    async with TestClient(TestServer(app)), Redis.from_url(redis_url) as r:
        assert [g["name"] for g in await r.xinfo_groups(stream)] == [b"event-processor"]
        await r.delete(stream)  # Redis lost its data
        await app[BACKLOG].refresh()
        assert [g["name"] for g in await r.xinfo_groups(stream)] == [b"event-processor"]


async def test_a_header_byte_that_is_not_utf8_does_not_break_the_write(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    import asyncio

    app = ingress_app(redis_url, key_prefix, tmp_path)
    async with TestClient(TestServer(app)) as client:
        body = orjson.dumps({"a": 1})
        head = b"POST /api/v1/events/demo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        head += b"".join(f"{k}: {v}\r\n".encode() for k, v in github_headers(body, delivery="d\xe9-1").items())
        head += b"User-Agent: caf\xe9-bot\r\ntraceparent: 00-\xe9" + b"a" * 31 + b"-00f067aa0ba902b7-01\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n".encode()
        assert client.server.host is not None and client.server.port is not None
        reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        await writer.wait_closed()
    assert status_line.split()[1] == b"202", status_line
    async with Redis.from_url(redis_url) as r:
        ((_, fields),) = await r.xrange(Keys(key_prefix).raw_stream)
    assert "caf\ufffd-bot" in orjson.loads(fields[b"headers"])["user-agent"]
