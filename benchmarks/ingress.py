"""Benchmark 1: the ingress (create_app, served as reflex_ingress serves it) against a bare aiohttp
202 handler, same serving, same number of processes (--ingress-workers, default INGRESS_WORKERS or 1,
sharing the port with SO_REUSEPORT), same load generator, same duration; then each paced at half the
ingress's max rate for its p99. Targets: ratio >= 0.75, the ingress's p99 at half max <= 10 ms."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.bodies import Variant, make_variants, sources_yaml
from benchmarks.load import LoadResult, LoadRun
from benchmarks.processes import CHILDREN, child_env
from benchmarks.report import Result, fmt, say, verdict
from benchmarks.servers import SERVING_MARK
from benchmarks.wrk import wrk_version
from reflex_common.testing.children import Child, wait_ready

TARGET_INGRESS_RATIO = 0.75
TARGET_PACED_P99_MS = 10.0
PACED_SHARE = 0.5  # the paced runs go at this share of the ingress's max rate
WARMUP_S = 1.0
READY_TIMEOUT_S = 60.0


def redis_xlen(redis_url: str, key: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen(key))
    finally:
        client.close()


@dataclass
class Side:
    """One side of the benchmark: its rate flat out, and its latency paced at a given rate."""

    max: LoadResult
    paced: LoadResult | None = None


def measure_server(
    kind: str,
    generator: str,
    args: argparse.Namespace,
    variants: list[Variant],
    workdir: Path,
    env: dict[str, str],
    paced_rate: Callable[[LoadResult], float],
) -> Side:
    """`kind` served by args.ingress_workers processes sharing one port (SO_REUSEPORT, as the ingress's
    INGRESS_WORKERS do): a warm-up, the run flat out, then one paced at paced_rate(flat-out result)."""
    from reflex_common.testing import free_port

    port = free_port()
    workers = args.ingress_workers
    server_env = child_env(HTTP_HOST="127.0.0.1", HTTP_PORT=str(port), BENCH_REUSE_PORT=str(int(workers > 1)), **env)
    procs = [
        CHILDREN.start(
            f"server-{kind}-{i}",
            [sys.executable, "-m", "benchmarks", "--serve", kind],
            env=server_env,
            log_path=workdir / f"server-{kind}-{i}.log",
        )
        for i in range(workers)
    ]

    def load(seconds: float, rate: float | None = None) -> LoadResult:
        return (
            LoadRun(
                generator,
                port,
                variants,
                seconds=seconds,
                connections=args.connections,
                max_requests=args.max_requests,
                workdir=workdir,
                threads=args.wrk_threads,
                rate=rate,
            )
            .start()
            .result()
        )

    try:
        wait_ready([f"http://127.0.0.1:{port}/livez"], procs, READY_TIMEOUT_S)
        _wait_serving(procs, [workdir / f"server-{kind}-{i}.log" for i in range(workers)])
        load(WARMUP_S)
        side = Side(load(args.seconds))
        side.paced = load(args.seconds, paced_rate(side.max))
        if not all(proc.alive for proc in procs):
            raise RuntimeError(f"a {kind} server died during the run; see {workdir}/server-{kind}-*.log")
        return side
    finally:
        CHILDREN.stop_many(procs)


def _wait_serving(procs: list[Child], logs: list[Path]) -> None:
    """Until every process of the side has bound the port (one answering /livez is not all of them)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not all(log.exists() and SERVING_MARK in log.read_text(errors="replace") for log in logs):
        if time.monotonic() > deadline or not all(proc.alive for proc in procs):
            raise RuntimeError(f"not every server process started; see {logs[0].parent}")
        time.sleep(0.1)


def _line(label: str, run: LoadResult, extra: str = "") -> str:
    return (
        f"[ingress]   {label:<22} {fmt(run.rate)} req/s ({run.requests:,} in {run.seconds:.2f} s, "
        f"p50 {run.p50_ms or 0:.1f} ms, p99 {run.p99_ms or 0:.1f} ms, errors {run.errors}, "
        f"load generator {run.generator_cpu:.2f} cores{', request bound reached' if run.bounded else ''}{extra})"
    )


def bench_ingress(args: argparse.Namespace, redis_url: str, generator: str, workdir: Path) -> Result:
    import uvloop

    from benchmarks.ingress_steps import ingress_breakdown
    from reflex_common.keys import Keys
    from reflex_common.testing import delete_prefix, unique_prefix

    workers = args.ingress_workers
    say(
        f"[ingress] {args.seconds:g} s per run (+{WARMUP_S:g} s warm-up), {args.connections} connections, "
        f"{workers} process(es) per side, at most {args.max_requests:,} requests per run, "
        f"generator: {generator_label(generator, args)}; then a run paced at half the ingress's max rate"
    )
    secret = secrets.token_hex(16)
    variants = make_variants(secret)
    sources = workdir / "sources.yaml"
    sources.write_text(sources_yaml("REFLEX_BENCH_SECRET"))
    prefix = unique_prefix()
    stream = Keys(prefix).raw_stream
    say(f"[ingress]   key prefix {prefix}")
    metrics_dir = workdir / "ingress-metrics"
    metrics_dir.mkdir(exist_ok=True)
    try:
        ingress_env = {
            "REDIS_URL": redis_url,
            "KEY_PREFIX": prefix,
            "SOURCES_FILE": str(sources),
            "REFLEX_BENCH_SECRET": secret,
        }
        if workers > 1:  # as the supervisor runs its workers: metrics in prometheus_client's multiprocess files
            ingress_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        # The ingress first: the paced runs of both sides go at half of its max rate.
        ingress = measure_server(
            "ingress", generator, args, variants, workdir, ingress_env, lambda flat: flat.rate * PACED_SHARE
        )
        half = ingress.max.rate * PACED_SHARE
        stored = redis_xlen(redis_url, stream)
        say(_line("ingress:", ingress.max, f", {stored:,} entries in the raw stream so far"))
        assert ingress.paced is not None
        say(_line(f"ingress at {fmt(half)}/s:", ingress.paced))
        bare = measure_server("bare", generator, args, variants, workdir, {}, lambda _: half)
        assert bare.paced is not None
        say(_line("bare aiohttp:", bare.max))
        say(_line(f"bare at {fmt(half)}/s:", bare.paced))
        if bare.max.generator_saturated:
            say(
                "[ingress]   WARNING: the load generator was CPU-bound on the bare side: the bare figure is a lower "
                "bound and the ratio is overstated (install wrk: apt-get install -y wrk)"
            )
        # The stage breakdown, after both sides were measured: in this process, the same signed bodies.
        os.environ["REFLEX_BENCH_SECRET"] = secret
        breakdown = uvloop.run(
            ingress_breakdown(
                redis_url, prefix, sources, variants, args.breakdown_events, args.connections, args.breakdown_runs
            )
        )
    finally:
        os.environ.pop("REFLEX_BENCH_SECRET", None)
        delete_prefix(redis_url, prefix)
    ratio = ingress.max.rate / bare.max.rate if bare.max.rate else 0.0
    p99 = ingress.paced.p99_ms or 0.0
    errors = ingress.max.errors + ingress.paced.errors
    met = ratio >= TARGET_INGRESS_RATIO and p99 <= TARGET_PACED_P99_MS and errors == 0
    caveat = "; load generator saturated on the bare side: ratio overstated" if bare.max.generator_saturated else ""
    summary = (
        f"ingress vs bare aiohttp, {workers} process(es) each: ingress {fmt(ingress.max.rate)} req/s, "
        f"bare aiohttp {fmt(bare.max.rate)} req/s, ratio {ratio:.2f} (target >= {TARGET_INGRESS_RATIO}); "
        f"p99 at {fmt(half)} req/s (half the ingress's max) {p99:.1f} ms, bare {bare.paced.p99_ms or 0:.1f} ms "
        f"(target <= {TARGET_PACED_P99_MS:g} ms): {verdict(met)} [{generator_label(generator, args)}{caveat}]"
    )
    return Result(
        "ingress",
        summary,
        ingress.max.rate,
        "req/s",
        bare.max.rate,
        "bare aiohttp req/s",
        ratio,
        f">= {TARGET_INGRESS_RATIO}, p99 <= {TARGET_PACED_P99_MS:g} ms at half max",
        met,
        {
            "generator": generator_label(generator, args),
            "workers": workers,
            "ingress": asdict(ingress.max),
            "bare": asdict(bare.max),
            "paced_rate": half,
            "ingress_paced": asdict(ingress.paced),
            "bare_paced": asdict(bare.paced),
            "raw_stream_entries": stored,
            "seconds": args.seconds,
            "connections": args.connections,
        },
        breakdown,
    )


def generator_label(generator: str, args: argparse.Namespace) -> str:
    if generator == "wrk":
        return f"{wrk_version()}, {args.wrk_threads} thread(s), Lua-signed POSTs"
    return "aiohttp client in a separate process (wrk not used)"
