"""Durability of the 202: the start-up check refuses servers that evict keys or cannot honour the
mode asked for; DURABILITY=aof confirms each pipeline with one WAITAOF (Valkey 9); a confirmation
that does not come in time answers 503. Servers of their own, on Redis 7.0 and Valkey 9."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis
from valkey_servers import ValkeyProcess, start_valkey_process

from reflex_common.errors import ConfigError
from reflex_common.redis_server import check_server
from reflex_common.testing import RedisProcess, start_redis_process
from reflex_ingress.enqueuer import EnqueueFailed, Enqueuer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def valkey_aof() -> Iterator[ValkeyProcess]:
    with start_valkey_process(appendonly=True, options=["--appendfsync", "everysec"]) as server:
        yield server


@pytest.fixture(scope="module")
def redis70() -> Iterator[RedisProcess]:
    with start_redis_process() as server:
        yield server


@pytest.fixture
async def valkey(valkey_aof: ValkeyProcess) -> AsyncIterator[Redis]:
    async with Redis.from_url(valkey_aof.url) as r:
        yield r


async def test_a_server_that_evicts_keys_stops_the_start(redis70: RedisProcess) -> None:
    async with Redis.from_url(redis70.url) as r:
        await r.config_set("maxmemory-policy", "allkeys-lru")
        try:
            with pytest.raises(ConfigError, match="noeviction"):
                await check_server(r)
        finally:
            await r.config_set("maxmemory-policy", "noeviction")


async def test_aof_mode_needs_waitaof_and_appendonly(redis70: RedisProcess) -> None:
    async with Redis.from_url(redis70.url) as r:
        with pytest.raises(ConfigError, match="WAITAOF"):
            await check_server(r, "aof")  # Redis 7.0 has no WAITAOF
        fitness = await check_server(r)
        assert fitness.server == "redis" and any("appendonly is off" in w for w in fitness.warnings)
    with start_valkey_process() as plain:
        async with Redis.from_url(plain.url) as r:
            with pytest.raises(ConfigError, match="appendonly yes"):
                await check_server(r, "aof")


async def test_valkey_with_an_fsynced_aof_honours_aof_mode_and_everysec_does_not(valkey: Redis) -> None:
    with pytest.raises(ConfigError, match="appendfsync always"):
        await check_server(valkey, "aof")  # WAITAOF may answer before the fsync (test_power_loss.py)
    assert any("appendfsync is everysec" in w for w in (await check_server(valkey, "fast")).warnings)
    await valkey.config_set("appendfsync", "always")
    try:
        fitness = await check_server(valkey, "aof")
    finally:
        await valkey.config_set("appendfsync", "everysec")
    assert fitness.server == "valkey" and fitness.version >= (9,)
    assert fitness.warnings == []


async def test_aof_mode_answers_after_one_waitaof_per_pipeline(valkey: Redis) -> None:
    await valkey.config_set("appendfsync", "always")
    enqueuer = Enqueuer(valkey, "durable", 10_000, batch_max=100, max_pending=1000, durability="aof")
    try:
        await enqueuer.start()
        results = await asyncio.gather(*(enqueuer.submit({"n": str(i).encode()}) for i in range(300)))
    finally:
        await enqueuer.stop()
        await valkey.config_set("appendfsync", "everysec")
    assert len({r.stream_id for r in results}) == 300
    assert enqueuer.batches < 300  # batched: one WAITAOF per pipeline, not per request
    assert await valkey.xlen("durable") == 300


async def test_a_confirmation_that_does_not_come_in_time_answers_503(valkey: Redis) -> None:
    # No replica is connected: WAIT 1 times out, so nothing is promised.
    enqueuer = Enqueuer(
        valkey, "unconfirmed", 10_000, batch_max=100, max_pending=1000, durability="replica", durability_timeout_ms=50
    )
    await enqueuer.start()
    assert any("no replica" in w for w in enqueuer.server_warnings)
    try:
        with pytest.raises(EnqueueFailed, match="not confirmed durable"):
            await enqueuer.submit({"n": b"1"})
    finally:
        await enqueuer.stop()
