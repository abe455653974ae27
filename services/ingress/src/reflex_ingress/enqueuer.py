"""Writes raw events to the raw stream, sharing Redis round trips between concurrent requests.

Each request puts its entry in a queue and awaits its own future; one writer task takes everything
queued (up to write_batch_max) into one pipeline of XADDs, so under load a round trip carries
hundreds of webhooks, and at low load a lone request is written at once (no lingering).
A request learns its entry's stream id, or why Redis could not take it (the caller answers 503).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError


class EnqueueFailed(Exception):
    """Redis did not take the entry: answer 503 with Retry-After; the event is not stored."""


class Overloaded(Exception):
    """Too many writes are already waiting for Redis: answer 429 with Retry-After."""


@dataclass(slots=True)
class _Write:
    fields: Mapping[str, bytes]
    done: asyncio.Future[str]


class Enqueuer:
    def __init__(self, redis: Redis, stream: str, maxlen: int, *, batch_max: int, max_pending: int) -> None:
        self._redis = redis
        self._stream = stream
        self._maxlen = maxlen
        self._batch_max = batch_max
        self._max_pending = max_pending
        self._queue: asyncio.Queue[_Write] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._log = structlog.get_logger("enqueuer")
        self.batches = 0

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def submit(self, fields: Mapping[str, bytes]) -> str:
        if self._queue.qsize() >= self._max_pending:
            raise Overloaded(f"{self._queue.qsize()} writes already waiting for Redis")
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(fields, future))
        return await future

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="enqueuer")

    async def stop(self) -> None:
        """Write what is queued, then stop (the HTTP server has stopped accepting by then)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        while not self._queue.empty():
            await self._write(self._take())

    def _take(self, limit: int | None = None) -> list[_Write]:
        limit = self._batch_max if limit is None else limit
        batch: list[_Write] = []
        while not self._queue.empty() and len(batch) < limit:
            batch.append(self._queue.get_nowait())
        return batch

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first, *self._take(self._batch_max - 1)]
            await self._write(batch)

    async def _write(self, batch: list[_Write]) -> None:
        if not batch:
            return
        self.batches += 1
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for w in batch:
                    pipe.xadd(self._stream, dict(w.fields), maxlen=self._maxlen, approximate=True)
                results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            self._log.warning("enqueue_failed", error=str(exc), batch=len(batch))
            results = [exc] * len(batch)
        for w, result in zip(batch, results, strict=True):
            if w.done.done():
                continue  # the request went away (client disconnected)
            if isinstance(result, BaseException):
                w.done.set_exception(EnqueueFailed(str(result)))
            else:
                w.done.set_result(result.decode() if isinstance(result, bytes) else str(result))
