"""Side-by-side benchmarks of ReflexAgent: `make bench` (`uv run python -m benchmarks`).

Three benchmarks, each against a baseline, each printing one line with both figures and the ratio,
then a summary table and each stage's breakdown (µs per event in each step; see breakdown.py):

1. ingress    req/s of the real ingress app (create_app, a github-kind source, correctly signed 1 KiB
              JSON bodies, a unique X-GitHub-Delivery per request) vs an aiohttp app whose handler
              returns 202 and does nothing. Both are served the same way (AppRunner without access
              log, TCPSite backlog 1024, uvloop, one process each, in a subprocess of their own) and
              driven by the same load generator for the same fixed duration, bounded in requests:
              `wrk` with a generated Lua script when it is installed, else an aiohttp client in a
              separate process. Target: ratio >= 0.75.
2. processor  rows/s of the event-processor (create_worker in this process, burst mode, its real
              handler, batch size from its settings) draining N pre-loaded raw entries into `events`,
              vs a COPY of the same rows straight into an identical empty table (LIKE events
              INCLUDING ALL) of the same database. Target: ratio >= 0.6.
3. e2e        events/s from the first ingress POST until every accepted event is counted in
              metric_counts, with `python -m reflex_ingress`, `python -m reflex_processor` and
              `python -m reflex_metrics` running as subprocesses (CPU µs per event of each, and of
              Redis and the PostgreSQL backends). Target: >= 8,000 events/s. Then on the same
              services a sustained run (full load for --sustain-seconds, the backlog sampled every
              second: flat or not) and a paced one (--paced-rate for --paced-seconds: received ->
              persisted p50/p99 from the rows; target p99 <= 100 ms), then a drain of
              --drain-entries backlogged raw entries with each consumer's RSS at start, peak and end
              (target: < 10 % growth).

Servers: REDIS_URL / DATABASE_URL when set (used under a key prefix of our own and in a scratch
database: nothing else on them is read, flushed or changed), else throwaway servers started through
reflex_common.testing. Traffic goes to 127.0.0.1 only. Every process started here is stopped on exit
(also on Ctrl-C / SIGTERM). See docs/benchmarks.md.

    uv run python -m benchmarks [--only ingress|processor|e2e] [--seconds 10] [--events 50000]
                                [--connections 64] [--processors 1] [--load-generator auto|wrk|aiohttp]
                                [--sustain-seconds 20] [--paced-rate 1000] [--paced-seconds 15]
                                [--drain-entries 50000] [--smoke] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.host_speed import PROBE_STEPS, probe_s
from benchmarks.load import load_worker_main
from benchmarks.processes import CHILDREN
from benchmarks.report import Result, print_breakdowns, print_summary, say
from benchmarks.servers import serve_main, servers
from benchmarks.wrk import wrk_binary

BENCHMARKS = ("ingress", "processor", "e2e")


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only",
        action="append",
        choices=("ingress", "processor", "e2e"),
        help="run only this benchmark (repeatable); default: all three",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="ingress: measured seconds per side (default 10)")
    parser.add_argument(
        "--traces-sampled",
        action="store_true",
        help="processor: raw entries carry sampled traces (as with an OTLP exporter configured); "
        "default: unsampled, as the ingress writes them when nothing exports traces",
    )
    parser.add_argument(
        "--events", type=int, default=50_000, help="processor and e2e: number of events (default 50,000)"
    )
    parser.add_argument(
        "--processors", type=int, default=1, help="e2e: event-processor processes, each its own consumer (default 1)"
    )
    parser.add_argument(
        "--sustain-seconds",
        type=float,
        default=20.0,
        help="e2e: seconds of full load in the sustained run (default 20)",
    )
    parser.add_argument(
        "--paced-rate", type=float, default=1000.0, help="e2e: requests/s of the paced latency run (default 1,000)"
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=15.0, help="e2e: seconds of the paced latency run (default 15)"
    )
    parser.add_argument(
        "--drain-entries",
        type=int,
        default=50_000,
        help="e2e: raw entries backlogged before the consumers start, RSS watched through the drain "
        "(default 50,000; the issue's figure: 200,000)",
    )
    parser.add_argument("--connections", type=int, default=64, help="concurrent HTTP connections (default 64)")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=500_000,
        help="ingress: at most this many requests per side (default 500,000)",
    )
    parser.add_argument(
        "--load-generator",
        choices=("auto", "wrk", "aiohttp"),
        default="auto",
        help="auto: wrk when installed, else an aiohttp client process",
    )
    parser.add_argument(
        "--ingress-workers",
        type=int,
        default=int(os.environ.get("INGRESS_WORKERS") or 1),
        help="ingress: processes per side sharing the port, ours and bare alike; e2e: the ingress's INGRESS_WORKERS "
        "(default INGRESS_WORKERS or 1)",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: this is a 2-core box)")
    parser.add_argument(
        "--breakdown-runs", type=int, default=5, help="stage breakdowns: batches measured, median taken (default 5)"
    )
    parser.add_argument(
        "--breakdown-events", type=int, default=500, help="ingress breakdown: requests per batch (default 500)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes (1 s per side, 300 events, 2 breakdown runs): checks that every benchmark runs; "
        "its figures mean nothing",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--serve", choices=("ingress", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--load-worker", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.events, args.connections, args.max_requests = 1.0, 300, 8, 2000
        args.sustain_seconds, args.paced_rate, args.paced_seconds, args.drain_entries = 3.0, 100.0, 2.0, 500
        args.breakdown_runs, args.breakdown_events = 2, 64
    numbers = (
        args.events,
        args.connections,
        args.max_requests,
        args.processors,
        args.breakdown_runs,
        args.ingress_workers,
        args.drain_entries,
    )
    durations = (args.seconds, args.sustain_seconds, args.paced_rate, args.paced_seconds)
    if min(*numbers, args.breakdown_events) < 1 or min(durations) <= 0:
        parser.error(
            "--events, --seconds, --connections, --max-requests, --processors, --ingress-workers, --breakdown-*, "
            "--sustain-seconds, --paced-*, --drain-entries must be positive"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return serve_main(args.serve)
    if args.load_worker:
        return load_worker_main(args.load_worker)

    from reflex_common.logs import configure_logging
    from reflex_common.testing import MissingBinaryError

    configure_logging("warning", service="bench")  # the in-process processor's logs: warnings only
    signal.signal(signal.SIGTERM, _raise_exit)
    from benchmarks.e2e import bench_e2e
    from benchmarks.ingress import bench_ingress, generator_label
    from benchmarks.processor import bench_processor

    selected = args.only or list(BENCHMARKS)
    generator = args.load_generator
    if generator == "auto":
        generator = "wrk" if wrk_binary() else "aiohttp"
    elif generator == "wrk" and not wrk_binary():
        say("bench: --load-generator wrk, but wrk is not installed (apt-get install -y wrk)")
        return 1
    say(
        f"bench: {os.cpu_count()} CPUs, Python {platform.python_version()}, benchmarks: {', '.join(selected)}; "
        f"load generator: {generator_label(generator, args)}"
    )
    speed = {"start": probe_s()}
    say(f"bench: host speed probe {speed['start']:.3f} s (CPU of a fixed {PROBE_STEPS:,}-step loop; lower is faster)")
    results: list[Result] = []
    failures: list[str] = []
    origin: dict[str, str] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="reflex-bench-") as tmp,
            servers(need_pg=bool({"processor", "e2e"} & set(selected))) as (redis_url, pg_url, origin),
        ):
            workdir = Path(tmp)
            say(f"bench: Redis: {origin['redis']}, PostgreSQL: {origin.get('postgres', 'not needed')}")
            for name in BENCHMARKS:
                if name not in selected:
                    continue
                try:
                    if name == "ingress":
                        ran = [bench_ingress(args, redis_url, generator, workdir)]
                    elif name == "processor":
                        assert pg_url is not None
                        ran = [bench_processor(args, redis_url, pg_url)]
                    else:
                        assert pg_url is not None
                        ran = bench_e2e(args, redis_url, pg_url, generator, workdir)
                except (RuntimeError, OSError) as exc:
                    failures.append(f"{name}: {exc}")
                    say(f"bench: {name} failed: {exc}")
                    continue
                results += ran
                say(ran[-1].summary)
                say()
    except MissingBinaryError as exc:
        say(f"bench: {exc}")
        return 1
    except (KeyboardInterrupt, SystemExit):
        say("bench: interrupted; stopping everything it started")
        return 130
    finally:
        CHILDREN.stop_all()
    speed["end"] = probe_s()
    print_summary(results)
    say(
        f"host speed probe: {speed['start']:.3f} s at the start, {speed['end']:.3f} s at the end "
        "(absolute figures of two runs compare only when these read alike)"
    )
    print_breakdowns(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "when": datetime.now(tz=UTC).isoformat(timespec="seconds"),
                    "machine": {
                        "cpus": os.cpu_count(),
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                        "speed_probe_s": speed,
                    },
                    "servers": origin,
                    "args": {
                        k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(args).items()
                        if k not in ("serve", "load_worker")
                    },
                    "results": [result_json(r) for r in results],
                    "failures": failures,
                },
                indent=2,
            )
            + "\n"
        )
        say(f"bench: results written to {args.json}")
    return 1 if failures else 0


def result_json(r: Result) -> dict[str, Any]:
    data = asdict(r)
    if r.breakdown is not None:
        data["breakdown"]["total_us"] = r.breakdown.total_us
        for step, figure in zip(data["breakdown"]["steps"], r.breakdown.steps, strict=True):
            step["us"] = figure.us
    return data


if __name__ == "__main__":
    sys.exit(main())
