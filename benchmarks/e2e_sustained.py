"""End to end, held: the whole pipeline under load for a while rather than a burst.

* sustained  wrk at full tilt for --sustain-seconds; every second the events counted and the backlog
             (raw + events streams, lag + pending) are read: the rate counted over the run and whether
             the backlog stays flat (its least-squares slope over the second half of the run, against
             the rate: under 2 % of it is flat). Target: >= 8,000 events/s with a flat backlog.
* latency    the aiohttp client paced at --paced-rate (1,000/s) for --paced-seconds: received ->
             persisted per event from the rows themselves (events.inserted_at, the inserting
             transaction's start, minus received_at, the ingress's clock: the same machine's).
             Target: p99 <= 100 ms.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.ingress import generator_label
from benchmarks.load import LoadRun
from benchmarks.pipeline import E2eRun, Sampler, backlog, counted, slope_per_s
from benchmarks.report import Result, fmt, say, verdict

TARGET_SUSTAINED_RATE = 8000.0
FLAT_SLOPE_SHARE = 0.02  # backlog growth per second under this share of the rate: flat
TARGET_P99_MS = 100.0
SETTLE_S = 60.0  # after the load: time allowed for the backlog to drain before giving up


def bench_sustained(run: E2eRun) -> Result:
    args, pipeline, redis, conn, keys, generator = run.args, run.pipeline, run.redis, run.conn, run.keys, run.generator
    assert pipeline.http_port is not None
    seconds = args.sustain_seconds
    say(f"[e2e]   sustained: {generator_label(generator, args)}, {args.connections} connections, {seconds:g} s")

    def read() -> dict[str, float]:
        return {
            "counted": counted(conn),
            "raw_backlog": backlog(redis, keys.raw_stream),
            "events_backlog": backlog(redis, keys.events_stream),
        }

    sampler = Sampler(read, 1.0).start()
    load = LoadRun(
        generator,
        pipeline.http_port,
        run.variants,
        seconds=seconds,
        connections=args.connections,
        max_requests=10**9,
        workdir=run.workdir,
        threads=args.wrk_threads,
    ).start()
    while load.running():
        pipeline.check_alive()
        time.sleep(0.2)
    load_result = load.result()
    samples = sampler.stop()
    inside = [s for s in samples if s.t_s <= seconds]
    if len(inside) < 3:
        raise RuntimeError(f"sustained: only {len(inside)} samples in {seconds:g} s")
    first, last = inside[1], inside[-1]  # the first second is the generator starting
    rate = (last.values["counted"] - first.values["counted"]) / (last.t_s - first.t_s)
    lag = [(s.t_s, s.values["raw_backlog"] + s.values["events_backlog"]) for s in inside]
    half = [p for p in lag if p[0] >= seconds / 2]
    slope = slope_per_s(half)
    flat = slope <= FLAT_SLOPE_SHARE * max(rate, 1.0)
    # Settle: the run is over once what was accepted is counted (its rows are checked by the burst run).
    deadline = time.perf_counter() + SETTLE_S
    while read()["raw_backlog"] + read()["events_backlog"] > 0 and time.perf_counter() < deadline:
        time.sleep(0.2)
    met = rate >= TARGET_SUSTAINED_RATE and flat
    lags = [y for _, y in lag]
    summary = (
        f"e2e sustained: {fmt(rate)} events/s counted over {last.t_s - first.t_s:.0f} s of full load "
        f"(ingress {fmt(load_result.rate)} req/s, p99 {load_result.p99_ms or 0:.1f} ms); backlog "
        f"{fmt(lags[0])} -> max {fmt(max(lags))} -> {fmt(lags[-1])}, slope {slope:+,.0f} entries/s over the "
        f"second half: {'flat' if flat else 'GROWING'} (target >= {fmt(TARGET_SUSTAINED_RATE)} events/s, "
        f"flat: {verdict(met)})"
    )
    return Result(
        "e2e-sustained",
        summary,
        rate,
        "events/s",
        None,
        None,
        None,
        f">= {fmt(TARGET_SUSTAINED_RATE)}/s, flat lag",
        met,
        {
            "seconds": seconds,
            "ingress_rate": load_result.rate,
            "backlog_slope_per_s": slope,
            "backlog_flat": flat,
            "backlog_samples": [[round(t, 1), y] for t, y in lag],
            "counted_samples": [[round(s.t_s, 1), s.values["counted"]] for s in inside],
        },
    )


def bench_latency(run: E2eRun) -> Result:
    args, pipeline, conn = run.args, run.pipeline, run.conn
    assert pipeline.http_port is not None
    rate, seconds = args.paced_rate, args.paced_seconds
    say(f"[e2e]   latency: aiohttp client paced at {fmt(rate)} requests/s for {seconds:g} s")
    since = conn.execute("SELECT now()").fetchone()[0]
    load = LoadRun(
        "aiohttp",
        pipeline.http_port,
        run.variants,
        seconds=seconds,
        connections=args.connections,
        max_requests=int(rate * seconds),
        workdir=run.workdir,
        rate=rate,
    ).start()
    while load.running():
        pipeline.check_alive()
        time.sleep(0.2)
    load_result = load.result()
    deadline = time.perf_counter() + SETTLE_S
    row: Any = None
    while time.perf_counter() < deadline:
        row = conn.execute(
            "SELECT count(*), percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM inserted_at - received_at)), max(inserted_at - received_at)"
            " FROM events WHERE received_at >= %s",
            (since,),
        ).fetchone()
        if row and row[0] >= load_result.requests:
            break
        time.sleep(0.2)
    n = int(row[0]) if row else 0
    p50_ms, p99_ms = (float(v) * 1000 for v in row[1]) if n else (float("nan"), float("nan"))
    achieved = load_result.rate
    met = p99_ms <= TARGET_P99_MS and achieved >= 0.9 * rate
    summary = (
        f"e2e latency: received -> persisted p50 {p50_ms:.1f} ms, p99 {p99_ms:.1f} ms over {n:,} events at "
        f"{fmt(achieved)} requests/s (paced at {fmt(rate)}/s; target p99 <= {TARGET_P99_MS:g} ms: {verdict(met)})"
    )
    return Result(
        "e2e-latency",
        summary,
        p99_ms,
        "ms p99",
        None,
        None,
        None,
        f"<= {TARGET_P99_MS:g} ms at {fmt(rate)}/s",
        met,
        {"paced_rate": rate, "achieved_rate": achieved, "events": n, "p50_ms": p50_ms, "p99_ms": p99_ms},
    )
