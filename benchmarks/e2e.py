"""Benchmark 3, end to end, the services running as subprocesses (`python -m reflex_ingress`, ...):
a burst (events/s from the first ingress POST until every accepted event is counted in metric_counts,
with CPU µs per event of each process), then a sustained run with the backlog sampled and a paced
run for received -> persisted latency (e2e_sustained.py), then a backlog drain with each service's
RSS (e2e_drain.py)."""

from __future__ import annotations

import argparse
import secrets
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.bodies import make_variants, sources_yaml
from benchmarks.breakdown import Breakdown, StepTime
from benchmarks.e2e_drain import bench_drain
from benchmarks.e2e_sustained import bench_latency, bench_sustained
from benchmarks.ingress import generator_label
from benchmarks.load import LoadRun
from benchmarks.pipeline import E2eRun, cpu_per_event_us, cpu_reading, os_cpus, running_pipeline, wait_counted
from benchmarks.processes import CHILDREN
from benchmarks.report import Result, fmt, say, verdict

TARGET_E2E_RATE = 8000.0
E2E_STALL_S = 60.0


def bench_e2e(args: argparse.Namespace, redis_url: str, pg_url: str, generator: str, workdir: Path) -> list[Result]:
    """The burst run (below), then on the same services the sustained and paced runs
    (e2e_sustained.py), then a backlog drain on services of its own (e2e_drain.py)."""
    import psycopg
    from redis import Redis

    from reflex_common.keys import Keys
    from reflex_common.testing import delete_prefix, scratch_database, unique_prefix

    n = args.events
    say(
        f"[e2e] {n:,} signed webhooks, {args.connections} connections, {args.processors} event-processor(s), "
        f"{args.ingress_workers} ingress worker(s), "
        f"generator: {generator_label(generator, args)}"
    )
    secret = secrets.token_hex(16)
    variants = make_variants(secret)
    sources = workdir / "e2e-sources.yaml"
    sources.write_text(sources_yaml("REFLEX_BENCH_SECRET"))
    prefix = unique_prefix()
    keys = Keys(prefix)
    say(f"[e2e]   key prefix {prefix}, scratch database")
    results: list[Result] = []
    redis = Redis.from_url(redis_url)
    try:
        with (
            scratch_database(pg_url) as db_url,
            running_pipeline(
                redis_url=redis_url,
                db_url=db_url,
                prefix=prefix,
                workdir=workdir,
                processors=args.processors,
                ingress={
                    "SOURCES_FILE": str(sources),
                    "REFLEX_BENCH_SECRET": secret,
                    "INGRESS_WORKERS": str(args.ingress_workers),
                },
            ) as pipeline,
            psycopg.connect(db_url, autocommit=True) as conn,
        ):
            say(f"[e2e]   services ready (logs in {workdir})")
            run = E2eRun(args, pipeline, redis, conn, keys, generator, variants, workdir)
            for bench in (_burst, bench_sustained, bench_latency):
                results.append(bench(run))
                say(results[-1].summary)
    finally:
        CHILDREN.stop_all()  # when interrupted: the load generator first, then the services
        redis.close()
        delete_prefix(redis_url, prefix)
    drain_prefix = unique_prefix()
    try:
        with scratch_database(pg_url) as db_url:
            results.append(bench_drain(args, redis_url, db_url, drain_prefix, workdir))
    finally:
        CHILDREN.stop_all()
        delete_prefix(redis_url, drain_prefix)
    return results


def _burst(run: E2eRun) -> Result:
    """events/s from the first POST of --events webhooks until every accepted one is counted."""
    args, pipeline, redis, conn, generator = run.args, run.pipeline, run.redis, run.conn, run.generator
    assert pipeline.http_port is not None
    n = args.events
    procs = pipeline.procs
    load = LoadRun(
        generator,
        pipeline.http_port,
        run.variants,
        seconds=max(120.0, n / 200),
        connections=args.connections,
        max_requests=n,
        workdir=run.workdir,
        threads=args.wrk_threads,
    )
    before = cpu_reading(procs, redis, conn)
    t0 = time.perf_counter()
    load.start()
    while load.running():
        time.sleep(0.05)
    load_result = load.result()
    t_sent = time.perf_counter() - t0
    time.sleep(0.2)  # answers still in flight when the generator stopped
    accepted = int(redis.xlen(run.keys.raw_stream))
    now_counted = wait_counted(pipeline, conn, accepted, E2E_STALL_S, "e2e")
    t_all = time.perf_counter() - t0
    cpu = cpu_per_event_us(before, cpu_reading(procs, redis, conn), accepted)
    rows = conn.execute("SELECT count(*) FROM events").fetchone()
    stored = int(rows[0]) if rows else 0
    rate = accepted / t_all
    met = rate >= TARGET_E2E_RATE and stored == accepted == now_counted
    say(
        f"[e2e]   ingress accepted {accepted:,} in {t_sent:.2f} s ({fmt(accepted / t_sent)} req/s, "
        f"p50 {load_result.p50_ms:.1f} ms, p99 {load_result.p99_ms:.1f} ms, errors {load_result.errors}); "
        f"all counted after {t_all:.2f} s; rows in events {stored:,}, counted {now_counted:,}"
    )
    summary = (
        f"end to end: {fmt(rate)} events/s from ingress POST to metric_counts ({accepted:,} events in "
        f"{t_all:.2f} s, {args.processors} event-processor(s); "
        f"target >= {fmt(TARGET_E2E_RATE)} events/s: {verdict(met)}) "
        f"[{generator_label(generator, args)}]"
    )
    return Result(
        "e2e",
        summary,
        rate,
        "events/s",
        None,
        None,
        None,
        f">= {fmt(TARGET_E2E_RATE)} events/s",
        met,
        {
            "processors": args.processors,
            "accepted": accepted,
            "stored": stored,
            "counted": now_counted,
            "send_s": t_sent,
            "total_s": t_all,
            "ingress_rate_during_e2e": accepted / t_sent,
            "load": asdict(load_result),
            "generator": generator_label(generator, args),
            "cpu_us_per_event": cpu,
        },
        process_breakdown(cpu, accepted),
    )


def process_breakdown(cpu_us: dict[str, float], events: int) -> Breakdown:
    """The end-to-end stage breakdown: CPU µs per event of each service process, of Redis and of the
    PostgreSQL backends over the whole run (the load generator not included). Its total bounds the
    rate: N cores give at most N × 1e6 / total events/s, and one process at most 1e6 / its figure."""
    steps = [StepTime(name, "cpu", us, None) for name, us in cpu_us.items()]
    total = sum(cpu_us.values()) or 1.0
    top = max(cpu_us, key=lambda k: cpu_us[k]) if cpu_us else "-"
    note = (
        f"CPU per event accepted; at most {os_cpus() * 1e6 / total:,.0f} events/s on {os_cpus()} cores, "
        f"{1e6 / max(cpu_us.get(top, 1.0), 1e-9):,.0f}/s for {top} alone"
    )
    return Breakdown("e2e", events, 1, steps, note=note)
