"""The enqueuer against a real Redis: batching, dedup atomicity, and failing closed."""

from __future__ import annotations

import asyncio

import pytest

from reflex_common.redis_client import redis_from_url
from reflex_ingress.enqueuer import Dedup, EnqueueFailed, Enqueuer


async def test_concurrent_writes_share_round_trips_and_repeats_are_not_stored(redis_url: str, key_prefix: str) -> None:
    redis = redis_from_url(redis_url)
    enqueuer = Enqueuer(redis, f"{key_prefix}:raw", 10_000, batch_max=64, max_pending=1000)
    await enqueuer.start()
    try:
        results = await asyncio.gather(
            *(
                enqueuer.submit({"n": str(i).encode()}, Dedup(f"{key_prefix}:d:{i % 50}", 60, f"id-{i}"))
                for i in range(200)
            )
        )
        stored = [r for r in results if r.stream_id is not None]
        repeats = [r for r in results if r.duplicate_of is not None]
        assert len(stored) == 50 and len(repeats) == 150
        assert {r.duplicate_of for r in repeats} <= {f"id-{i}" for i in range(50)}
        assert await redis.xlen(f"{key_prefix}:raw") == 50
        assert enqueuer.batches < 200  # round trips were shared
    finally:
        await enqueuer.stop()
        await redis.aclose()


async def test_a_failing_write_fails_its_requests_and_the_writer_lives_on(redis_url: str, key_prefix: str) -> None:
    redis = redis_from_url(redis_url)
    enqueuer = Enqueuer(redis, f"{key_prefix}:raw", 10_000, batch_max=64, max_pending=1000)
    await enqueuer.start()
    try:
        with pytest.raises(EnqueueFailed):
            await enqueuer.submit({"bad": None})  # type: ignore[dict-item]  # redis-py refuses None
        assert enqueuer.alive
        assert (await enqueuer.submit({"ok": b"1"})).stream_id is not None
    finally:
        await enqueuer.stop()
        await redis.aclose()


async def test_stop_writes_everything_already_queued_and_refuses_the_rest(redis_url: str, key_prefix: str) -> None:
    redis = redis_from_url(redis_url)
    enqueuer = Enqueuer(redis, f"{key_prefix}:raw", 10_000, batch_max=16, max_pending=1000)
    await enqueuer.start()
    try:
        writes = [asyncio.create_task(enqueuer.submit({"n": str(i).encode()})) for i in range(100)]
        await asyncio.sleep(0)  # all 100 are queued
        await enqueuer.stop()
        assert all(w.done() and w.result().stream_id for w in writes)
        assert await redis.xlen(f"{key_prefix}:raw") == 100
        with pytest.raises(EnqueueFailed, match="shutting down"):
            await enqueuer.submit({"late": b"1"})
    finally:
        await redis.aclose()
