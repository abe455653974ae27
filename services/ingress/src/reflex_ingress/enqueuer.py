"""Writes raw events to the raw stream, sharing Redis round trips between concurrent requests.

Each request puts its entry in a queue and awaits its own future; one writer task takes everything
queued (up to write_batch_max) into one pipeline of XADDs, so under load a round trip carries
hundreds of webhooks, and at low load a lone request is written at once (no lingering).
A request learns its entry's stream id, or why Redis could not take it (the caller answers 503).

Durability of the 202 (DURABILITY): `fast` answers once Redis has the entry in memory (its own fsync
policy decides what a power loss takes); `aof` ends each pipeline with WAITAOF 1 0 (the entries are
fsynced to the local AOF before anyone is answered); `replica` with WAIT 1 (a replica has them). One
WAIT per pipeline, not per request. Not confirmed within durability_timeout_ms → 503: the entries
may be stored, and the sender's retry is deduplicated by its delivery key where it has one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
import structlog
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError, ResponseError

from reflex_common.errors import ConfigError, TransientError
from reflex_common.redis_server import Durability, check_server

# Dedup and enqueue in one step: the delivery key is claimed (SET NX EX) only together with the
# XADD, so a key can never be remembered for an event that was not stored. "#!lua" without flags
# makes Redis refuse the whole script up front when it is out of memory (no half-done write).
_DEDUP_XADD = """#!lua
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[2]) then
  local args = {'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*'}
  for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
  return {1, redis.call(unpack(args))}
end
return {0, redis.call('GET', KEYS[2])}
"""
# Called by its SHA1 inside the write pipeline; loaded only when Redis answers NOSCRIPT (first use, or
# after a restart / SCRIPT FLUSH). redis-py's Script object would instead add a SCRIPT EXISTS round
# trip before every pipeline, and a coroutine per entry.
_DEDUP_XADD_SHA = hashlib.sha1(_DEDUP_XADD.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Dedup:
    """Remember `key` for horizon_s under the new event's id; a repeat within it is not stored."""

    key: str
    horizon_s: int
    event_id: str


@dataclass(frozen=True, slots=True)
class Enqueued:
    stream_id: str | None
    # The event id the first delivery of this key got, when this one was a repeat (not stored).
    duplicate_of: str | None = None


class EnqueueFailed(TransientError):
    """Redis did not take the entry: answer 503 with Retry-After; the event is not stored."""


class NotDurable(Exception):
    """The server took the entry but did not confirm it durable in time (the caller answers 503)."""


class Overloaded(Exception):
    """Too many writes are already waiting for Redis: answer 429 with Retry-After."""


@dataclass(slots=True)
class _Write:
    fields: Mapping[str, bytes]
    dedup: Dedup | None
    done: asyncio.Future[Enqueued]


class Enqueuer:
    def __init__(
        self,
        redis: Redis,
        stream: str,
        maxlen: int,
        *,
        batch_max: int,
        max_pending: int,
        durability: Durability = "fast",
        durability_timeout_ms: int = 1000,
        writes: Redis | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """`writes`: the client of the write round trips (default: `redis`), best made with no
        socket timeout — redis-py would arm a timer for every reply — and `timeout_s`, the one
        deadline of each whole round trip (plus the durability wait, in the aof and replica modes)."""
        self._redis = redis
        self._writes = writes if writes is not None else redis
        self._timeout_s = (
            None if timeout_s is None else timeout_s + (durability != "fast") * durability_timeout_ms / 1000
        )
        self._durability = durability
        self._durability_timeout_ms = durability_timeout_ms
        # The server check: done at start, or before the first write when Redis was down at start.
        self._checked = False
        self.unfit: str | None = None
        self.server_warnings: list[str] = []
        self._stream = stream
        self._maxlen = maxlen
        self._batch_max = batch_max
        self._max_pending = max_pending
        self._queue: asyncio.Queue[_Write | None] = asyncio.Queue()  # None: the stop marker
        self._closing = False
        self._stop_seen = False
        self._task: asyncio.Task[None] | None = None
        self._log = structlog.get_logger("enqueuer")
        self.batches = 0

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        # A server found unfit (e.g. eviction turned on) fails liveness: the restart's start-up
        # check then stops the ingress with one line.
        return self._task is not None and not self._task.done() and self.unfit is None

    async def submit(self, fields: Mapping[str, bytes], dedup: Dedup | None = None) -> Enqueued:
        """Store the entry (unless `dedup` finds its key already taken). Raises Overloaded or
        EnqueueFailed; never returns for an entry that is not stored, except as a duplicate."""
        if self._closing:
            raise EnqueueFailed("the ingress is shutting down")
        if self._queue.qsize() >= self._max_pending:
            raise Overloaded(f"{self._queue.qsize()} writes already waiting for Redis")
        future: asyncio.Future[Enqueued] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(fields, dedup, future))
        return await future

    async def start(self) -> None:
        """Check the server (a ConfigError stops the start), then start writing."""
        try:
            await self._check()
        except TransientError as exc:
            self._log.warning("redis_check_deferred", error=str(exc))
        self._task = asyncio.create_task(self._run(), name="enqueuer")

    async def _check(self) -> None:
        fitness = await check_server(self._redis, self._durability)
        self._checked = True
        self.server_warnings = fitness.warnings
        for warning in fitness.warnings:
            self._log.warning("redis_unsafe_setting", warning=warning, server=fitness.server)

    async def stop(self) -> None:
        """Write everything queued so far — never cutting a write short — then stop. (The HTTP
        server has stopped taking requests by then.)"""
        if self._task is None:
            return
        self._closing = True
        self._queue.put_nowait(None)  # behind every write already queued
        await self._task

    def _take(self, limit: int) -> list[_Write]:
        """Up to `limit` queued writes, without waiting; stops at the stop marker."""
        batch: list[_Write] = []
        while not self._queue.empty() and len(batch) < limit:
            item = self._queue.get_nowait()
            if item is None:
                self._stop_seen = True
                break
            batch.append(item)
        return batch

    async def _run(self) -> None:
        while not self._stop_seen:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first, *self._take(self._batch_max - 1)]
            try:
                await self._write(batch)
            except Exception as exc:
                # A bug, not an outage: fail this batch's requests (503, nothing promised) and keep
                # the writer alive for the next ones.
                self._log.exception("enqueue_bug", batch=len(batch))
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(EnqueueFailed(f"{type(exc).__name__}: {exc}"))

    async def _write(self, batch: list[_Write]) -> None:
        if not batch:
            return
        if not self._checked or self.unfit:
            try:
                if self.unfit is None:
                    await self._check()
            except ConfigError as exc:
                self.unfit = str(exc)
                self._log.error("redis_unfit", error=self.unfit)
            except TransientError as exc:
                self._log.warning("redis_check_failed", error=str(exc))
            if not self._checked or self.unfit:
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(EnqueueFailed(self.unfit or "redis unavailable"))
                return
        self.batches += 1
        try:
            results = await self._pipeline(batch)
        except (RedisError, OSError) as exc:
            self._log.warning("enqueue_failed", error=str(exc), batch=len(batch))
            results = [exc] * len(batch)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:
            # NOSCRIPT: the script did not run, so none of these entries was stored; load it, write them again.
            try:
                await self._redis.script_load(_DEDUP_XADD)
                retried = await self._pipeline([batch[i] for i in missing])
            except (RedisError, OSError) as exc:
                self._log.warning("enqueue_failed", error=str(exc), batch=len(missing))
                retried = [exc] * len(missing)
            for i, result in zip(missing, retried, strict=True):
                results[i] = result
        for w, result in zip(batch, results, strict=True):
            if w.done.done():
                continue  # the request went away (client disconnected)
            if isinstance(result, BaseException):
                w.done.set_exception(EnqueueFailed(str(result)))
            elif w.dedup is None:
                w.done.set_result(Enqueued(_text(result)))
            elif int(result[0]) == 1:
                w.done.set_result(Enqueued(_text(result[1])))
            else:
                w.done.set_result(Enqueued(None, duplicate_of=_text(result[1])))

    async def _pipeline(self, batch: Sequence[_Write]) -> list[Any]:
        """One round trip for the whole batch; per-entry errors come back as exception objects. In
        the aof and replica modes the round trip ends with one WAITAOF / WAIT for all of them; an
        entry not confirmed in time comes back as an error."""
        results = await self._round_trip(batch)
        if self._durability == "fast":
            return results
        *results, confirmation = results
        confirmed = (
            not isinstance(confirmation, BaseException)
            and int(confirmation[0] if self._durability == "aof" else confirmation) >= 1
        )
        if confirmed:
            return results
        why = confirmation if isinstance(confirmation, BaseException) else None
        self._log.warning(
            "durability_not_confirmed", mode=self._durability, timeout_ms=self._durability_timeout_ms, error=str(why)
        )
        failure = NotDurable(f"not confirmed durable ({self._durability}) within {self._durability_timeout_ms} ms")
        return [failure if not isinstance(r, BaseException) else r for r in results]

    async def _round_trip(self, batch: Sequence[_Write]) -> list[Any]:
        """The batch's commands packed and sent at once, their replies read in order under one
        deadline; a reply that is an error comes back as its exception object (NOSCRIPT included)."""
        commands: list[tuple[Any, ...]] = []
        for w in batch:
            args: list[Any]
            if w.dedup is None:
                args = ["XADD", self._stream, "MAXLEN", "~", self._maxlen, "*"]
            else:
                dedup = w.dedup
                args = ["EVALSHA", _DEDUP_XADD_SHA, 2, self._stream, dedup.key, self._maxlen]
                args += [dedup.horizon_s, dedup.event_id]
            for name, value in w.fields.items():
                args += [name, value]
            commands.append(tuple(args))
        if self._durability == "aof":
            commands.append(("WAITAOF", 1, 0, self._durability_timeout_ms))
        elif self._durability == "replica":
            commands.append(("WAIT", 1, self._durability_timeout_ms))
        pool = self._writes.connection_pool
        async with asyncio.timeout(self._timeout_s):
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                # Packed in C before anything is sent (every argument is ours: str, bytes or int); a
                # field hiredis cannot pack fails the batch alone.
                packed = b"".join([hiredis.pack_command(command) for command in commands])
                await connection.send_packed_command(packed, check_health=False)
                results: list[Any] = []
                for _ in commands:
                    try:
                        results.append(await connection.read_response())
                    except ResponseError as exc:  # an error reply: the connection reads on
                        results.append(exc)
            except BaseException:
                await connection.disconnect(nowait=True)  # replies may be left unread on it
                raise
            finally:
                await pool.release(connection)
        return results


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
