"""Database errors in the error vocabulary: "retry later", "this message is bad", or a bug."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import psycopg_pool

from reflex_common.error_classes import translated


@contextlib.contextmanager
def transient_db() -> Iterator[None]:
    """Raise TransientError for outages and overload (SQLSTATE 08, 53, 57, 58, 40, lock timeouts),
    InvalidMessage for data the database can never take (22, 23); let anything else through as the
    bug it is. The mapping lives in `reflex_common.error_classes`."""
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        if (error := translated(exc, "database refused the work")) is not None:
            raise error from exc
        raise
