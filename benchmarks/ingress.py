"""Benchmark 1: the ingress (create_app, served as reflex_ingress serves it) against a bare aiohttp
202 handler, same serving, same load generator, same duration. Target: ratio >= 0.75."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.bodies import Variant, make_variants, sources_yaml
from benchmarks.load import LoadResult, LoadRun
from benchmarks.processes import CHILDREN, child_env
from benchmarks.report import Result, fmt, say, verdict
from benchmarks.wrk import wrk_version
from reflex_common.testing.children import wait_ready

TARGET_INGRESS_RATIO = 0.75
WARMUP_S = 1.0
READY_TIMEOUT_S = 60.0


def redis_xlen(redis_url: str, key: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.xlen(key))
    finally:
        client.close()


def measure_server(
    kind: str, generator: str, args: argparse.Namespace, variants: list[Variant], workdir: Path, env: dict[str, str]
) -> LoadResult:
    from reflex_common.testing import free_port

    port = free_port()
    log = workdir / f"server-{kind}.log"
    server_env = child_env(HTTP_HOST="127.0.0.1", HTTP_PORT=str(port), **env)
    proc = CHILDREN.start(
        f"server-{kind}", [sys.executable, "-m", "benchmarks", "--serve", kind], env=server_env, log_path=log
    )
    try:
        wait_ready([f"http://127.0.0.1:{port}/livez"], [proc], READY_TIMEOUT_S)
        LoadRun(
            generator,
            port,
            variants,
            seconds=WARMUP_S,
            connections=args.connections,
            max_requests=args.max_requests,
            workdir=workdir,
            threads=args.wrk_threads,
        ).start().result()
        result = (
            LoadRun(
                generator,
                port,
                variants,
                seconds=args.seconds,
                connections=args.connections,
                max_requests=args.max_requests,
                workdir=workdir,
                threads=args.wrk_threads,
            )
            .start()
            .result()
        )
        if not proc.alive:
            raise RuntimeError(f"the {kind} server died during the run; see {log}")
        return result
    finally:
        CHILDREN.stop(proc)


def bench_ingress(args: argparse.Namespace, redis_url: str, generator: str, workdir: Path) -> Result:
    import uvloop

    from benchmarks.ingress_steps import ingress_breakdown
    from reflex_common.keys import Keys
    from reflex_common.testing import delete_prefix, unique_prefix

    say(
        f"[ingress] {args.seconds:g} s per side (+{WARMUP_S:g} s warm-up), {args.connections} connections, "
        f"at most {args.max_requests:,} requests per side, generator: {generator_label(generator, args)}"
    )
    secret = secrets.token_hex(16)
    variants = make_variants(secret)
    sources = workdir / "sources.yaml"
    sources.write_text(sources_yaml("REFLEX_BENCH_SECRET"))
    prefix = unique_prefix()
    stream = Keys(prefix).raw_stream
    say(f"[ingress]   key prefix {prefix}")
    try:
        bare = measure_server("bare", generator, args, variants, workdir, {})
        say(
            f"[ingress]   bare aiohttp: {fmt(bare.rate)} req/s ({bare.requests:,} in {bare.seconds:.2f} s, "
            f"p50 {bare.p50_ms:.1f} ms, p99 {bare.p99_ms:.1f} ms, errors {bare.errors}, "
            f"load generator {bare.generator_cpu:.2f} cores{', request bound reached' if bare.bounded else ''})"
        )
        ingress_env = {
            "REDIS_URL": redis_url,
            "KEY_PREFIX": prefix,
            "SOURCES_FILE": str(sources),
            "REFLEX_BENCH_SECRET": secret,
        }
        ingress = measure_server("ingress", generator, args, variants, workdir, ingress_env)
        stored = redis_xlen(redis_url, stream)
        say(
            f"[ingress]   ingress:      {fmt(ingress.rate)} req/s ({ingress.requests:,} in {ingress.seconds:.2f} s, "
            f"p50 {ingress.p50_ms:.1f} ms, p99 {ingress.p99_ms:.1f} ms, errors {ingress.errors}, "
            f"{stored:,} entries in the raw stream incl. warm-up, load generator {ingress.generator_cpu:.2f} cores"
            f"{', request bound reached' if ingress.bounded else ''})"
        )
        if bare.generator_saturated:
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
    ratio = ingress.rate / bare.rate if bare.rate else 0.0
    met = ratio >= TARGET_INGRESS_RATIO and ingress.errors == 0
    caveat = "; load generator saturated on the bare side: ratio overstated" if bare.generator_saturated else ""
    summary = (
        f"ingress vs bare aiohttp: ingress {fmt(ingress.rate)} req/s, bare aiohttp {fmt(bare.rate)} req/s, "
        f"ratio {ratio:.2f} (target >= {TARGET_INGRESS_RATIO}: {verdict(met)}) "
        f"[{generator_label(generator, args)}{caveat}]"
    )
    return Result(
        "ingress",
        summary,
        ingress.rate,
        "req/s",
        bare.rate,
        "bare aiohttp req/s",
        ratio,
        f">= {TARGET_INGRESS_RATIO}",
        met,
        {
            "generator": generator_label(generator, args),
            "ingress": asdict(ingress),
            "bare": asdict(bare),
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
