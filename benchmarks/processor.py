"""Benchmark 2: the event-processor (its real worker, in this process, burst mode) draining N
pre-loaded raw entries, against a binary COPY of the same rows into an identical empty table
(target: >= 0.6) and against the yardstick, a plain redis-py + psycopg consumer doing the same job on
the same entries (`processor_yardstick`; target: ahead of it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import time
import uuid
from typing import Any

from benchmarks.bodies import raw_events
from benchmarks.breakdown import Breakdown
from benchmarks.processor_steps import processor_breakdown
from benchmarks.processor_yardstick import create_yardstick, run_yardstick
from benchmarks.report import Result, fmt, say, verdict

TARGET_PROCESSOR_RATIO = 0.6
COPY_RUNS = 3  # the raw COPY baseline is short: its median of 3


async def _bench_processor(
    args: argparse.Namespace, redis_url: str, db_url: str, prefix: str
) -> tuple[dict[str, Any], Breakdown]:
    import psycopg
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from reflex_common.db import apply_migrations
    from reflex_common.heap import freeze_startup_heap
    from reflex_common.keys import PROCESSOR_GROUP
    from reflex_common.streams.redis_stream import open_redis_streams
    from reflex_common.telemetry import create_tracer_provider
    from reflex_processor import worker as processor_worker
    from reflex_processor.normalizer import normalize
    from reflex_processor.settings import ProcessorSettings
    from reflex_processor.store import COLUMN_TYPES, copy_rows, event_row

    n = args.events
    settings = ProcessorSettings(
        redis_url=redis_url, database_url=db_url, key_prefix=prefix, consumer_name="bench-processor"
    )
    keys = settings.keys
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await apply_migrations(conn)
        await conn.execute("CREATE TABLE events_copy_baseline (LIKE events INCLUDING ALL)")
        await conn.commit()
    yardstick_events = f"{prefix}:yardstick:events"

    # Pre-load the raw stream (the group exists first, as the ingress makes it).
    events = raw_events(n, secrets.token_hex(8), args.traces_sampled)
    redis = Redis.from_url(redis_url)
    try:
        with contextlib.suppress(Exception):
            await redis.xgroup_create(keys.raw_stream, PROCESSOR_GROUP, id="0", mkstream=True)
        async with await psycopg.AsyncConnection.connect(db_url) as conn:
            await create_yardstick(conn, redis, keys.raw_stream)  # its own group: the very same entries
        stream_ids: list[str] = []
        t = time.perf_counter()
        for start in range(0, n, 1000):
            async with redis.pipeline(transaction=False) as pipe:
                for e in events[start : start + 1000]:
                    pipe.xadd(keys.raw_stream, e.to_fields(), maxlen=settings.stream_maxlen, approximate=True)
                stream_ids += [i.decode() for i in await pipe.execute()]
        say(f"[processor]   pre-loaded {n:,} raw entries in {time.perf_counter() - t:.1f} s")
    finally:
        await redis.aclose()

    # Baseline: the same rows (as store_events writes them), one COPY into an identical empty table.
    # The processor stages the event id as text and casts it; this table's column is the uuid itself.
    rows = [
        (uuid.UUID(str(row[0])), *row[1:])
        for row in (event_row(stream_id, normalize(raw)) for stream_id, raw in zip(stream_ids, events, strict=True))
    ]
    copy_runs: list[float] = []
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        for run in range(COPY_RUNS):
            if run:
                await conn.execute("TRUNCATE events_copy_baseline")
                await conn.commit()
            t = time.perf_counter()
            async with conn.transaction():
                await copy_rows(conn.cursor(), "events_copy_baseline", rows, ("uuid", *COLUMN_TYPES[1:]))
            copy_runs.append(time.perf_counter() - t)
        copied = (await (await conn.execute("SELECT count(*) FROM events_copy_baseline")).fetchone() or (0,))[0]
    copy_s = sorted(copy_runs)[len(copy_runs) // 2]
    if copied != n:
        raise RuntimeError(f"the baseline COPY left {copied} rows, expected {n}")
    say(
        f"[processor]   raw COPY:        {fmt(n / copy_s)} rows/s ({n:,} rows in {copy_s:.2f} s, median of "
        f"{COPY_RUNS}: {', '.join(f'{x:.2f}' for x in copy_runs)} s)"
    )

    # The processor: its real worker, burst mode, timed from start until every entry is stored and acked.
    provider = create_tracer_provider("reflex-event-processor")
    registry = CollectorRegistry()
    labels = {"stream": keys.raw_stream, "group": PROCESSOR_GROUP}
    async with processor_worker.create_worker(settings, provider.get_tracer("reflex_processor"), registry) as worker:
        await worker.prepare()
        freeze_startup_heap()  # as the service's runner does before its worker runs
        t = time.perf_counter()
        task = asyncio.create_task(worker.run(burst=True))
        done = 0.0
        while not task.done():
            done = registry.get_sample_value("reflex_consumer_entries_total", {**labels, "outcome": "done"}) or 0.0
            if done >= n:
                break
            await asyncio.sleep(0.005)
        processor_s = time.perf_counter() - t
        worker.stop()
        await task
        batches = registry.get_sample_value("reflex_consumer_batch_seconds_count", labels) or 0
        batch_sum = registry.get_sample_value("reflex_consumer_batch_seconds_sum", labels) or 0.0
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        stored = (await (await conn.execute("SELECT count(*) FROM events")).fetchone() or (0,))[0]
    if stored != n:
        raise RuntimeError(f"the processor stored {stored} rows, expected {n}")
    say(
        f"[processor]   event-processor: {fmt(n / processor_s)} rows/s ({stored:,} rows in {processor_s:.2f} s, "
        f"{batches:.0f} batches of {settings.batch_size}, {batch_sum / max(batches, 1) * 1000:.0f} ms per batch)"
    )
    # The yardstick, on the same entries (its own group), into its own table like events.
    yardstick_s = await run_yardstick(
        redis_url, db_url, keys.raw_stream, yardstick_events, n, settings.batch_size, settings.stream_maxlen
    )
    say(f"[processor]   yardstick:       {fmt(n / yardstick_s)} rows/s ({n:,} rows in {yardstick_s:.2f} s)")
    # The stage breakdown, after the measured run: the same kind of entries, one batch at a time.
    async with open_redis_streams(redis_url, settings.block_ms) as (port, _):
        breakdown = await processor_breakdown(
            settings, port, db_url, provider.get_tracer("reflex_processor"), args.traces_sampled, args.breakdown_runs
        )
    provider.shutdown()
    return {
        "events": n,
        "copy_s": copy_s,
        "copy_runs_s": copy_runs,
        "processor_s": processor_s,
        "yardstick_s": yardstick_s,
        "batch_size": settings.batch_size,
        "batches": batches,
        "mean_batch_ms": batch_sum / max(batches, 1) * 1000,
    }, breakdown


def bench_processor(args: argparse.Namespace, redis_url: str, pg_url: str) -> Result:
    import uvloop

    from reflex_common.testing import delete_prefix, scratch_database, unique_prefix

    prefix = unique_prefix()
    say(f"[processor] {args.events:,} raw entries, 1 KiB github bodies, key prefix {prefix}, scratch database")
    try:
        with scratch_database(pg_url) as db_url:
            d, breakdown = uvloop.run(_bench_processor(args, redis_url, db_url, prefix))
    finally:
        delete_prefix(redis_url, prefix)
    rate, baseline = d["events"] / d["processor_s"], d["events"] / d["copy_s"]
    yardstick = d["events"] / d["yardstick_s"]
    ratio = rate / baseline
    d["yardstick_rows_per_s"], d["ratio_to_yardstick"] = yardstick, rate / yardstick
    met = ratio >= TARGET_PROCESSOR_RATIO and rate > yardstick
    summary = (
        f"processor vs raw COPY: processor {fmt(rate)} rows/s, raw COPY {fmt(baseline)} rows/s, "
        f"ratio {ratio:.2f}; yardstick (plain redis-py + psycopg) {fmt(yardstick)} rows/s, processor "
        f"{rate / yardstick:.2f}x it (target >= {TARGET_PROCESSOR_RATIO} and ahead of the yardstick: {verdict(met)})"
    )
    return Result(
        "processor",
        summary,
        rate,
        "rows/s",
        baseline,
        "raw COPY rows/s",
        ratio,
        f">= {TARGET_PROCESSOR_RATIO}, > yardstick",
        met,
        d,
        breakdown,
    )
