"""Redis and PostgreSQL as testcontainers containers, used only when a Docker engine answers."""

from __future__ import annotations

import contextlib
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

REDIS_IMAGE = "redis:7"
POSTGRES_IMAGE = "postgres:15"
DOCKER_PROBE_TIMEOUT_S = 3.0


def docker_available(timeout_s: float = DOCKER_PROBE_TIMEOUT_S) -> bool:
    """Whether a Docker engine answers, checked in a child process so that a missing engine costs at
    most `timeout_s` and leaves no warnings or sockets behind in this process."""
    docker_cli = shutil.which("docker")
    if docker_cli is not None:
        command = [docker_cli, "info", "--format", "{{.ServerVersion}}"]
    else:
        # No CLI: ask the docker SDK (what testcontainers uses), if it is installed.
        probe = f"import docker; docker.from_env(timeout={timeout_s}).ping()"
        command = [sys.executable, "-c", probe]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _container_class(module: str, name: str) -> Any:
    """testcontainers' class from its `community` package, or from the older top-level module."""
    try:
        return getattr(importlib.import_module(f"testcontainers.community.{module}"), name)
    except ImportError:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(importlib.import_module(f"testcontainers.{module}"), name)


@contextlib.contextmanager
def redis_container() -> Iterator[str]:
    container_class = _container_class("redis", "RedisContainer")
    with container_class(REDIS_IMAGE) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


@contextlib.contextmanager
def postgres_container() -> Iterator[str]:
    container_class = _container_class("postgres", "PostgresContainer")
    container = container_class(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    with container:
        yield str(container.get_connection_url())
