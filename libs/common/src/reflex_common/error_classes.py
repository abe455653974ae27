"""Which driver exceptions mean what: the one place that maps redis-py and psycopg exceptions to the
error vocabulary of `reflex_common.errors` (transient → pause and retry; invalid → dead-letter now;
anything else → a bug: crash and let the orchestrator restart the pod).

Decided by the drivers' exception classes, never by message text: redis-py raises
`OutOfMemoryError`, `ReadOnlyError`, … with the reply code stripped, and inside a MULTI the refusal
of one queued command comes back as that command's error raised from an `ExecAbortError`. Only replies
that have no class (NOGROUP, BUSYGROUP, `ERR no such key`) are read from the text, here.
"""

from __future__ import annotations

from typing import Literal

import psycopg
import psycopg_pool
from redis import exceptions as rx

from reflex_common.errors import InvalidMessage, ReflexError, TransientError

ErrorKind = Literal["transient", "invalid", "bug"]

# "Redis cannot take this right now": an outage, a full or read-only server, a failover under way.
_REDIS_TRANSIENT: tuple[type[BaseException], ...] = (
    rx.ConnectionError,  # refused, reset, max clients; includes BusyLoadingError (LOADING)
    rx.TimeoutError,
    rx.OutOfMemoryError,  # OOM: maxmemory reached with noeviction
    rx.ReadOnlyError,  # READONLY: we are talking to a replica (failover)
    rx.ClusterDownError,  # CLUSTERDOWN, and MasterDownError (MASTERDOWN: replica lost its primary)
    rx.TryAgainError,  # TRYAGAIN: resharding
    ConnectionError,  # the builtin: the socket went away under redis-py
    TimeoutError,
    OSError,
)
# Subclasses of the transient classes above that mean the service is configured wrongly.
_REDIS_CONFIG: tuple[type[BaseException], ...] = (rx.AuthenticationError, rx.AuthorizationError)

# SQLSTATE classes (the first two characters): the server, not the data, is the problem...
_DB_TRANSIENT_CLASSES = frozenset({"08", "53", "57", "58", "40"})  # connection, resources, operator, system, rollback
_DB_TRANSIENT_CODES = frozenset({"55P03", "55006"})  # lock_not_available, object_in_use
# ...and the data is: it can never be written as it is.
_DB_INVALID_CLASSES = frozenset({"22", "23"})  # data exception, integrity constraint violation

_PIPELINE_PREFIX = " of pipeline caused error: "


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it was raised from or during, innermost last (cycles cut)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def reply_code(exc: BaseException) -> str:
    """The error code of a Redis reply ("NOGROUP", "BUSYGROUP", …), also when redis-py prefixed the
    text with `Command # 1 (…) of pipeline caused error:`; "" when it has none."""
    if not isinstance(exc, rx.ResponseError):
        return ""
    text = str(exc.args[0]) if exc.args else ""
    # redis-py 8 appends the original args as a tuple's repr: `… caused error: ("NOGROUP …",)`.
    text = text.rpartition(_PIPELINE_PREFIX)[2].lstrip("(\"' ")
    word = text.split(" ", 1)[0]
    return word if word.isupper() else ""


def is_missing_group(exc: BaseException) -> bool:
    """NOGROUP: the stream or its group is gone (FLUSHALL, DEL, XGROUP DESTROY, restore from an
    older AOF or RDB)."""
    return any(reply_code(e) == "NOGROUP" for e in _causes(exc))


def is_existing_group(exc: BaseException) -> bool:
    """BUSYGROUP: XGROUP CREATE of a group that exists."""
    return reply_code(exc) == "BUSYGROUP"


def is_missing_key(exc: BaseException) -> bool:
    """`ERR no such key`: XINFO of a stream that does not exist (the one ERR reply read as text)."""
    return isinstance(exc, rx.ResponseError) and "no such key" in str(exc).lower()


def redis_kind(exc: BaseException) -> ErrorKind:
    """What a redis-py exception means; walks the chain so that an ExecAbortError raised because
    Redis refused a command queued in the MULTI means what that refusal means."""
    for e in _causes(exc):
        if isinstance(e, _REDIS_CONFIG):
            return "bug"
        if isinstance(e, _REDIS_TRANSIENT):
            return "transient"
    return "bug"


def db_kind(exc: BaseException) -> ErrorKind:
    """What a psycopg exception means, by its SQLSTATE class."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return "transient"
    if not isinstance(exc, psycopg.Error):
        return "bug"
    state = exc.sqlstate or ""
    if not state:
        # No SQLSTATE: the client lost the server (connection refused, closed, timed out).
        return "transient" if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) else "bug"
    if state in _DB_TRANSIENT_CODES or state[:2] in _DB_TRANSIENT_CLASSES:
        return "transient"
    if state[:2] in _DB_INVALID_CLASSES:
        return "invalid"
    return "bug"


def kind_of(exc: BaseException) -> ErrorKind:
    """The kind of any exception: the vocabulary's own, a driver's, or a bug. A RecursionError (a
    payload nested too deep to encode) is the entry's fault: retrying cannot help."""
    if isinstance(exc, TransientError):
        return "transient"
    if isinstance(exc, InvalidMessage | RecursionError):
        return "invalid"
    if isinstance(exc, rx.RedisError):
        return redis_kind(exc)
    if isinstance(exc, psycopg.Error | psycopg_pool.PoolTimeout):
        return db_kind(exc)
    if isinstance(exc, ConnectionError | TimeoutError):
        return "transient"
    return "bug"


def translated(exc: BaseException, what: str) -> ReflexError | None:
    """The vocabulary error to raise from `exc` (`raise translated(...) from exc`), or None when
    `exc` is a bug and must propagate as it is."""
    kind = redis_kind(exc) if isinstance(exc, rx.RedisError) else kind_of(exc)
    if kind == "transient":
        return TransientError(f"{what} ({type(exc).__name__}): {exc}")
    if kind == "invalid":
        return InvalidMessage(f"{what} ({type(exc).__name__}): {exc}")
    return None
