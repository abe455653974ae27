"""Fixtures shared by every test: real Redis and Postgres servers, isolated per test.

REDIS_URL / DATABASE_URL when set; else testcontainers when a Docker engine answers; else throwaway
redis-server / postgres processes. Each test gets its own key prefix and its own database, so tests
never touch (let alone flush) data they did not make.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from reflex_common.db import apply_migrations
from reflex_common.testing import (
    delete_prefix,
    postgres_server,
    redis_server,
    scratch_database,
    unique_prefix,
)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def key_prefix(redis_url: str) -> Iterator[str]:
    prefix = unique_prefix()
    yield prefix
    delete_prefix(redis_url, prefix)


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url) as url:
        yield url


@pytest.fixture
async def migrated_db(database_url: str) -> AsyncIterator[str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await apply_migrations(conn)
    yield database_url


@pytest.fixture
def no_trace_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """An environment that asks for no trace export (whatever the developer's shell has set)."""
    for var in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_SAMPLER",
    ):
        monkeypatch.delenv(var, raising=False)
