"""A cancelled background loop ends, even where Python 3.11's asyncio.wait_for (under redis-py's socket
writes) drops the cancellation: the loop's next turn raises it again."""

from __future__ import annotations

import asyncio
import random

import pytest

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.streams.backlog import BacklogMonitor
from reflex_common.streams.redis_stream import open_redis_streams

CANCELS = 150


async def test_a_dropped_cancellation_is_raised_again_on_the_next_check() -> None:
    checked = asyncio.Event()

    async def loop() -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        task.uncancel()  # leaves no request: the check lets the loop go on
        raise_dropped_cancellation()
        task.cancel()
        try:
            await asyncio.sleep(0)  # delivers the request ...
        except asyncio.CancelledError:
            pass  # ... which a buggy await swallows, as 3.11's wait_for can
        checked.set()
        raise_dropped_cancellation()
        raise AssertionError("the request still on the task was not raised")

    task = asyncio.create_task(loop())
    with pytest.raises(asyncio.CancelledError):
        await task
    assert checked.is_set()


async def test_a_backlog_monitor_cancelled_at_any_instant_ends(redis_url: str, key_prefix: str) -> None:
    async with open_redis_streams(redis_url, block_ms=50) as (port, _):
        rng = random.Random(7)
        for _ in range(CANCELS):
            monitor = BacklogMonitor(port, f"{key_prefix}:raw", max_entries=1000, refresh_s=0)
            task = asyncio.create_task(monitor.run())
            await asyncio.sleep(rng.random() * 0.004)  # lands inside a refresh's round trip most times
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=2.0)
            assert done, "a cancelled BacklogMonitor.run kept running"
            assert task.cancelled()
