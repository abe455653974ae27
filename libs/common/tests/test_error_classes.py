"""The error map against real servers: each refusal as redis-py and psycopg really raise it, also
inside a MULTI, lands on the right word of the vocabulary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from redis.asyncio import Redis

from reflex_common.db import transient_db
from reflex_common.error_classes import db_kind, is_missing_group, kind_of, redis_kind
from reflex_common.errors import GroupMissing, InvalidMessage, TransientError
from reflex_common.streams import Outgoing
from reflex_common.streams.redis_stream import open_redis_streams
from reflex_common.testing import RedisProcess, free_port, start_redis_process


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisProcess]:
    with start_redis_process() as server:
        yield server


@pytest.fixture
async def client(own_redis: RedisProcess) -> AsyncIterator[Redis]:
    r = Redis.from_url(own_redis.url)
    yield r
    await r.config_set("maxmemory", 0)
    await r.replicaof("NO", "ONE")
    await r.flushall()
    await r.aclose()


async def raised(call: object) -> BaseException:
    try:
        await call  # type: ignore[misc]
    except Exception as exc:
        return exc
    raise AssertionError("no error")


async def test_oom_is_transient_alone_and_inside_a_multi(client: Redis, own_redis: RedisProcess) -> None:
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", 1)
    alone = await raised(client.xadd("s", {"a": "1"}))
    async with client.pipeline(transaction=True) as pipe:
        pipe.xadd("s", {"a": "1"})
        pipe.xack("s", "g", "1-0")
        in_multi = await raised(pipe.execute())
    assert "of pipeline caused error" in str(in_multi)
    assert (redis_kind(alone), redis_kind(in_multi)) == ("transient", "transient")
    async with open_redis_streams(own_redis.url, block_ms=50) as (port, _):
        with pytest.raises(TransientError, match="OutOfMemoryError"):
            await port.commit("s", "g", ["1-0"], [Outgoing("out", {"a": b"1"}, 1000)])


async def test_a_replica_refuses_writes_as_transient(client: Redis, own_redis: RedisProcess) -> None:
    # A replica of a primary that does not answer: read-only, its data kept.
    await client.replicaof("127.0.0.1", free_port())
    exc = await raised(client.xadd("s", {"a": "1"}))
    assert kind_of(exc) == "transient"
    async with open_redis_streams(own_redis.url, block_ms=50) as (port, _):
        with pytest.raises(TransientError, match="ReadOnlyError"):
            await port.publish([Outgoing("out", {"a": b"1"}, 1000)])


async def test_nogroup_on_any_command_is_group_missing(client: Redis, own_redis: RedisProcess) -> None:
    await client.xadd("s", {"a": "1"})
    async with open_redis_streams(own_redis.url, block_ms=50) as (port, _):
        with pytest.raises(GroupMissing):
            await port.read_new("s", "g", "c", 10, 10)
        with pytest.raises(GroupMissing):
            await port.own_pending("s", "g", "c", "0-0", 10)
        with pytest.raises(GroupMissing):
            await port.claim("s", "g", "c", "0-1")
        with pytest.raises(GroupMissing):
            await port.autoclaim("s", "g", "c", 0, "0-0", 10)
        with pytest.raises(GroupMissing):
            await port.touch("s", "g", "c", ["1-0"])
        async with client.pipeline(transaction=True) as pipe:
            pipe.xautoclaim("s", "g", "c", 0, "0-0")
            assert is_missing_group(await raised(pipe.execute()))


async def test_a_server_that_went_away_is_transient() -> None:
    async with Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1) as r:
        assert kind_of(await raised(r.ping())) == "transient"


async def test_database_refusals_by_sqlstate(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("SET statement_timeout = '10ms'")
        timeout = await raised(conn.execute("SELECT pg_sleep(1)"))
        division = await raised(conn.execute("SELECT 1 / 0"))
        missing = await raised(conn.execute("SELECT * FROM no_such_table"))
    assert (db_kind(timeout), db_kind(division), db_kind(missing)) == ("transient", "invalid", "bug")
    with pytest.raises(TransientError):
        with transient_db():
            raise timeout
    with pytest.raises(InvalidMessage):
        with transient_db():
            raise division
    with pytest.raises(psycopg.errors.UndefinedTable):
        with transient_db():
            raise missing


async def test_a_database_that_went_away_is_transient() -> None:
    exc = await raised(psycopg.AsyncConnection.connect(f"postgresql://127.0.0.1:{free_port()}/x", connect_timeout=1))
    assert kind_of(exc) == "transient"


def test_recursion_error_is_invalid_and_unknown_errors_are_bugs() -> None:
    assert kind_of(RecursionError()) == "invalid"
    assert kind_of(KeyError("x")) == "bug"
