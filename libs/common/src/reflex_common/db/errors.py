"""Which database errors mean "retry later" rather than "this message is bad"."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import psycopg_pool

from reflex_common.errors import TransientError

# SQLSTATE classes that say the server, not the data, is the problem.
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "53", "57", "40")  # connection, resources, operator, rollback


@contextlib.contextmanager
def transient_db() -> Iterator[None]:
    """Raise TransientError for outages and overload; let data errors through (the caller
    decides whether the message is at fault)."""
    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        raise TransientError(f"database unavailable: {exc}") from exc
    except psycopg.Error as exc:
        if exc.sqlstate and exc.sqlstate.startswith(_TRANSIENT_SQLSTATE_PREFIXES):
            raise TransientError(f"database refused the write ({exc.sqlstate}): {exc}") from exc
        raise
