"""The async connection pool, opened and closed as a pair."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from psycopg_pool import AsyncConnectionPool


@contextlib.asynccontextmanager
async def open_pool(url: str, max_size: int, *, name: str = "reflex") -> AsyncIterator[AsyncConnectionPool]:
    """A pool that does not insist on the database being up at start: a worker whose database is
    down must still start, report not-ready and retry, rather than crash-loop."""
    pool = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=False,
        name=name,
        timeout=10.0,
        reconnect_timeout=0,
        kwargs={"autocommit": False},
    )
    await pool.open(wait=False)
    try:
        yield pool
    finally:
        await pool.close()
