"""Benchmark 3: events/s from the first ingress POST until every accepted event is counted in
metric_counts, the three services running as subprocesses (`python -m reflex_ingress`, ...)."""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.bodies import make_variants, sources_yaml
from benchmarks.breakdown import Breakdown, StepTime
from benchmarks.ingress import READY_TIMEOUT_S, generator_label, redis_xlen
from benchmarks.load import LoadRun
from benchmarks.processes import CHILDREN, child_env, cpu_s
from benchmarks.report import Result, fmt, say, verdict
from reflex_common.testing.children import Child, wait_ready

TARGET_E2E_RATE = 8000.0
E2E_STALL_S = 60.0


def bench_e2e(args: argparse.Namespace, redis_url: str, pg_url: str, generator: str, workdir: Path) -> Result:
    import psycopg

    from reflex_common.keys import Keys
    from reflex_common.testing import delete_prefix, free_port, scratch_database, unique_prefix

    n = args.events
    say(
        f"[e2e] {n:,} signed webhooks, {args.connections} connections, {args.processors} event-processor(s), "
        f"generator: {generator_label(generator, args)}"
    )
    secret = secrets.token_hex(16)
    variants = make_variants(secret)
    sources = workdir / "e2e-sources.yaml"
    sources.write_text(sources_yaml("REFLEX_BENCH_SECRET"))
    prefix = unique_prefix()
    stream = Keys(prefix).raw_stream
    say(f"[e2e]   key prefix {prefix}, scratch database")
    procs: list[Child] = []
    try:
        with scratch_database(pg_url) as db_url:
            http_port = free_port()
            common = {"REDIS_URL": redis_url, "DATABASE_URL": db_url, "KEY_PREFIX": prefix}
            processors = [
                (f"processor-{i}", "reflex_processor", {"CONSUMER_NAME": f"bench-processor-{i}"})
                for i in range(1, args.processors + 1)
            ]
            specs = [
                *processors,
                ("metric-worker", "reflex_metrics", {"CONSUMER_NAME": "bench-metrics"}),
                (
                    "ingress",
                    "reflex_ingress",
                    {
                        "SOURCES_FILE": str(sources),
                        "HTTP_PORT": str(http_port),
                        "HTTP_HOST": "127.0.0.1",
                        "REFLEX_BENCH_SECRET": secret,
                    },
                ),
            ]
            ready_urls = []
            for name, module, extra in specs:
                health = free_port()
                log = workdir / f"e2e-{name}.log"
                env = child_env(**common, HEALTH_PORT=str(health), **extra)
                procs.append(CHILDREN.start(name, [sys.executable, "-m", module], env=env, log_path=log))
                ready_urls.append(f"http://127.0.0.1:{http_port if name == 'ingress' else health}/readyz")
            wait_ready(ready_urls, procs, READY_TIMEOUT_S)
            say(f"[e2e]   services ready (logs in {workdir})")

            with psycopg.connect(db_url, autocommit=True) as conn:

                def counted() -> int:
                    row = conn.execute("SELECT coalesce(sum(count), 0) FROM metric_counts WHERE type = '*'").fetchone()
                    return int(row[0]) if row else 0

                load = LoadRun(
                    generator,
                    http_port,
                    variants,
                    seconds=max(120.0, n / 200),
                    connections=args.connections,
                    max_requests=n,
                    workdir=workdir,
                    threads=args.wrk_threads,
                )
                cpu0 = {proc.name: cpu_s(proc.pid) for proc in procs}
                t0 = time.perf_counter()
                load.start()
                while load.running():
                    time.sleep(0.05)
                load_result = load.result()
                t_sent = time.perf_counter() - t0
                time.sleep(0.2)  # answers still in flight when the generator stopped
                accepted = redis_xlen(redis_url, stream)
                last, last_change = -1, time.perf_counter()
                while True:
                    now_counted = counted()
                    if now_counted >= accepted:
                        break
                    if now_counted != last:
                        last, last_change = now_counted, time.perf_counter()
                    elif time.perf_counter() - last_change > E2E_STALL_S:
                        raise RuntimeError(f"e2e stalled: {now_counted} of {accepted} counted")
                    for proc in procs:
                        if not proc.alive:
                            raise RuntimeError(f"{proc.name} exited with {proc.exit_description()} during the run")
                    time.sleep(0.05)
                t_all = time.perf_counter() - t0
                cpu = {proc.name: cpu_s(proc.pid) - cpu0[proc.name] for proc in procs}
                rows = conn.execute("SELECT count(*) FROM events").fetchone()
                stored = int(rows[0]) if rows else 0
            CHILDREN.stop_many(procs, grace_s=30)
            procs.clear()
    finally:
        CHILDREN.stop_all()  # when interrupted: the load generator first, then the services
        delete_prefix(redis_url, prefix)
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
        },
        process_breakdown(cpu, accepted),
    )


def process_breakdown(cpu: dict[str, float], events: int) -> Breakdown:
    """The end-to-end stage breakdown: CPU µs per event of each service process over the whole run
    (the load generator, Redis and PostgreSQL not included). Its total bounds the rate: 2 cores give
    at most 2e6 / total events/s."""
    steps = [StepTime(name, "cpu", seconds * 1e6 / max(events, 1), None) for name, seconds in cpu.items()]
    return Breakdown("e2e", events, 1, steps, note="CPU of each service process over the run, per event accepted")
