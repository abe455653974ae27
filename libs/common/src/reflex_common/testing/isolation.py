"""Isolation on shared servers: a database of its own per test (`scratch_database()`), a key prefix of
its own (`unique_prefix()`, `delete_prefix()`). Nothing here ever flushes a server."""

from __future__ import annotations

import contextlib
import re
import secrets
import urllib.parse
from collections.abc import Iterator

import psycopg
import redis
from psycopg import sql


def database_url(server_url: str, dbname: str) -> str:
    """`server_url` pointing at database `dbname` instead (URL or key=value conninfo)."""
    if "://" in server_url:
        parts = urllib.parse.urlsplit(server_url)
        return parts._replace(path="/" + urllib.parse.quote(dbname)).geturl()
    return psycopg.conninfo.make_conninfo(server_url, dbname=dbname)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Create a database named `reflex_t_<hex>` on the server of `server_url`, yield its URL, and drop
    it on exit (`WITH (FORCE)`: connections still open to it are terminated).

    The connecting role must be allowed to create databases. The caller may do anything inside it.
    """
    name = f"reflex_t_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique_prefix() -> str:
    """A Redis key prefix no other caller gets, like `t3f9a0c1b2d4e`; use it as KEY_PREFIX."""
    return f"t{secrets.token_hex(6)}"


def _glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def delete_prefix(redis_url: str, prefix: str, *, batch: int = 500) -> int:
    """Delete the keys under `prefix:` (SCAN + DEL, never FLUSH) and return how many were deleted.

    Keys written concurrently may survive; callers clean up after their writers stop.
    """
    if not prefix:
        raise ValueError("prefix must not be empty")
    pattern = f"{_glob_escape(prefix)}:*"
    deleted = 0
    client = redis.Redis.from_url(redis_url)
    try:
        keys: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            keys.append(key)
            if len(keys) >= batch:
                deleted += int(client.delete(*keys))
                keys.clear()
        if keys:
            deleted += int(client.delete(*keys))
    finally:
        client.close()
    return deleted
