"""End to end, a backlog drained: --drain-entries raw entries (as the ingress writes them) waiting in
the raw stream before the processor(s) and the metric-worker start; then until every one is counted,
every half second, the RSS of each service. Reported: the drain rate, RSS at start (ready, before the
first batch), peak and end of each service with its growth (end against start), and CPU µs per event
of each service, of Redis and of the PostgreSQL backends. Target: every service's RSS grows < 10 %."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import time
from pathlib import Path
from typing import Any

from benchmarks.bodies import raw_events
from benchmarks.pipeline import Sampler, cpu_per_event_us, cpu_reading, rss_bytes, running_pipeline, wait_counted
from benchmarks.report import Result, fmt, say, verdict

TARGET_RSS_GROWTH = 0.10
STALL_S = 60.0
PRELOAD_BATCH = 1000


def preload(redis: Any, keys: Any, n: int) -> None:
    """n raw entries in the raw stream, its processor group made first (as the ingress makes it)."""
    from reflex_common.keys import PROCESSOR_GROUP

    with contextlib.suppress(Exception):  # BUSYGROUP: it exists
        redis.xgroup_create(keys.raw_stream, PROCESSOR_GROUP, id="0", mkstream=True)
    secret = secrets.token_hex(8)
    for start in range(0, n, PRELOAD_BATCH):
        size = min(PRELOAD_BATCH, n - start)
        pipe = redis.pipeline(transaction=False)
        for e in raw_events(size, secret, False, delivery_prefix=f"drain-{start}"):
            pipe.xadd(keys.raw_stream, e.to_fields())
        pipe.execute()


def bench_drain(args: argparse.Namespace, redis_url: str, db_url: str, prefix: str, workdir: Path) -> Result:
    import psycopg
    from redis import Redis

    from reflex_common.keys import Keys

    n = args.drain_entries
    keys = Keys(prefix)
    redis = Redis.from_url(redis_url)
    try:
        t = time.perf_counter()
        preload(redis, keys, n)
        say(f"[e2e]   drain: {n:,} raw entries pre-loaded in {time.perf_counter() - t:.1f} s")
        with (
            running_pipeline(
                redis_url=redis_url, db_url=db_url, prefix=prefix, workdir=workdir, processors=args.processors
            ) as pipeline,
            psycopg.connect(db_url, autocommit=True) as conn,
        ):
            procs = pipeline.procs
            # Ready means joined: a first batch may be in hand already, the RSS read now is the start.
            start_rss = {p.name: rss_bytes(p.pid) for p in procs}
            before = cpu_reading(procs, redis, conn)
            sampler = Sampler(lambda: {p.name: float(rss_bytes(p.pid)) for p in procs}, 0.5).start()
            t0 = time.perf_counter()
            wait_counted(pipeline, conn, n, STALL_S, "drain")
            elapsed = time.perf_counter() - t0
            after = cpu_reading(procs, redis, conn)
            end_rss = {p.name: rss_bytes(p.pid) for p in procs}
            samples = sampler.stop()
    finally:
        redis.close()
    rss = {}
    for name, start in start_rss.items():
        peak = max([start, end_rss[name], *(int(s.values.get(name, 0)) for s in samples)])
        rss[name] = {"start": start, "peak": peak, "end": end_rss[name], "growth": end_rss[name] / start - 1}
    cpu = cpu_per_event_us(before, after, n)
    worst = max(rss, key=lambda k: rss[k]["growth"])
    met = all(r["growth"] < TARGET_RSS_GROWTH for r in rss.values())
    for name, r in rss.items():
        say(
            f"[e2e]   drain RSS {name}: start {r['start'] / 2**20:.1f} MiB, peak {r['peak'] / 2**20:.1f}, "
            f"end {r['end'] / 2**20:.1f} ({r['growth']:+.1%}); CPU {cpu.get(name, 0):.1f} µs/event"
        )
    say("[e2e]   drain CPU " + ", ".join(f"{k} {v:.1f} µs/event" for k, v in cpu.items() if k in ("redis", "postgres")))
    rate = n / elapsed
    summary = (
        f"e2e drain: {n:,} backlogged entries counted in {elapsed:.1f} s ({fmt(rate)} events/s); RSS growth "
        f"at most {rss[worst]['growth']:+.1%} ({worst}) (target < {TARGET_RSS_GROWTH:.0%} each: {verdict(met)})"
    )
    return Result(
        "e2e-drain",
        summary,
        rss[worst]["growth"] * 100,
        "% RSS growth",
        None,
        None,
        None,
        f"< {TARGET_RSS_GROWTH:.0%} per service",
        met,
        {"entries": n, "seconds": elapsed, "rate": rate, "rss_bytes": rss, "cpu_us_per_event": cpu},
    )
