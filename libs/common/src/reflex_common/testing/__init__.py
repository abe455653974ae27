"""Test support: real Redis and PostgreSQL servers (never mocks) and per-test isolation helpers."""

from reflex_common.testing.servers import (
    MissingBinaryError,
    PostgresProcess,
    RedisProcess,
    ServerProcess,
    database_url,
    delete_prefix,
    docker_available,
    free_port,
    free_port_block,
    postgres_server,
    redis_server,
    scratch_database,
    start_postgres_process,
    start_redis_process,
    unique_prefix,
)

__all__ = [
    "MissingBinaryError",
    "PostgresProcess",
    "RedisProcess",
    "ServerProcess",
    "database_url",
    "delete_prefix",
    "docker_available",
    "free_port",
    "free_port_block",
    "postgres_server",
    "redis_server",
    "scratch_database",
    "start_postgres_process",
    "start_redis_process",
    "unique_prefix",
]
