"""Fixtures of the consumer-runtime tests: a Redis client and the Redis stream port, on the session's
Redis server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from reflex_common.streams.redis_stream import RedisStreams, open_redis_streams


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def port(redis_url: str) -> AsyncIterator[RedisStreams]:
    async with open_redis_streams(redis_url, block_ms=50) as (streams, _):
        yield streams
