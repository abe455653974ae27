"""A consumer process whose handler kills the process (os._exit) on the entry marked `poison`, as a
segfaulting driver or the kernel's OOM killer would, and stores every other entry (SADD into
`<stream>:stored`, idempotent). Run by test_suspects.py as an orchestrator would: restarted until it
exits 0 (burst mode: nothing left to read).

    python exiting_worker.py REDIS_URL STREAM BATCH_SIZE MAX_DELIVERIES
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from reflex_common.streams import Consumer, ConsumerConfig, Entry, Outcome
from reflex_common.streams.consumer_metrics import ConsumerMetrics
from reflex_common.streams.redis_stream import open_redis_streams


class ExitOnPoison:
    def __init__(self, redis: Redis, stored_key: str) -> None:
        self._redis = redis
        self._stored_key = stored_key

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        if any(e.fields.get("n") == b"poison" for e in entries):
            os._exit(17)
        await self._redis.sadd(self._stored_key, *[e.id for e in entries])
        return Outcome(done=[e.id for e in entries])


async def main(redis_url: str, stream: str, batch_size: int, max_deliveries: int) -> None:
    config = ConsumerConfig(
        stream=stream,
        group="g",
        consumer="only",
        dlq_stream=f"{stream}:dlq",
        trimmed_counter_key=f"{stream}:trimmed",
        batch_size=batch_size,
        max_deliveries=max_deliveries,
        block_ms=50,
        min_idle_ms=60_000,
    )
    async with open_redis_streams(redis_url, block_ms=50) as (port, redis):
        handler = ExitOnPoison(redis, f"{stream}:stored")
        await Consumer(port, handler, config, ConsumerMetrics(CollectorRegistry())).run(burst=True)


if __name__ == "__main__":
    url, stream_name, batch, deliveries = sys.argv[1:5]
    asyncio.run(main(url, stream_name, int(batch), int(deliveries)))
