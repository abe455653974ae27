"""Real Redis and PostgreSQL servers for tests and for `make run`: never mocks.

`redis_server()` / `postgres_server()` are context managers yielding a URL. They use, in order, the
URL from the environment (`REDIS_URL` / `DATABASE_URL`, used as is and never flushed), a
testcontainers container when a Docker engine answers (`containers.py`), or a throwaway server
process of our own (`processes.py`, with the binaries `binaries.py` finds). Callers isolate their
data with `isolation.py`.

The names imported `X as X` were defined here before the split: re-exported for the callers that
import them from this module.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from reflex_common.testing.binaries import MissingBinaryError as MissingBinaryError
from reflex_common.testing.containers import docker_available, postgres_container, redis_container
from reflex_common.testing.isolation import database_url as database_url
from reflex_common.testing.isolation import delete_prefix as delete_prefix
from reflex_common.testing.isolation import scratch_database as scratch_database
from reflex_common.testing.isolation import unique_prefix as unique_prefix
from reflex_common.testing.ports import free_port as free_port
from reflex_common.testing.processes import PostgresProcess as PostgresProcess
from reflex_common.testing.processes import RedisProcess as RedisProcess
from reflex_common.testing.processes import ServerProcess as ServerProcess
from reflex_common.testing.processes import start_postgres_process, start_redis_process


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield the URL of a Redis server: `REDIS_URL` if set (as is: callers must isolate their keys
    with `unique_prefix()` and never flush it), else a container if Docker answers, else a throwaway
    redis-server process. Anything started here is stopped and removed on exit.

    Raises MissingBinaryError when the process path is taken and redis-server is not installed.
    """
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        yield env_url
    elif docker_available():
        with redis_container() as url:
            yield url
    else:
        with start_redis_process() as server:
            yield server.url


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the libpq URL of a PostgreSQL server (its `postgres` database): `DATABASE_URL` if set,
    else a container if Docker answers, else a throwaway cluster. Callers must work in a
    `scratch_database()` rather than in the yielded database. Anything started here is stopped and
    removed on exit.

    Raises MissingBinaryError when the process path is taken and PostgreSQL is not installed.
    """
    env_url = os.environ.get("DATABASE_URL")
    if env_url:
        yield env_url
    elif docker_available():
        with postgres_container() as url:
            yield url
    else:
        with start_postgres_process() as server:
            yield server.url
