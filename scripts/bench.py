"""Side-by-side benchmarks of ReflexAgent: `make bench` (`uv run python scripts/bench.py`).

Three benchmarks, each against a baseline, each printing one line with both figures and the ratio:

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
              `python -m reflex_metrics` running as subprocesses. Target: >= 3,000 events/s.

Servers: REDIS_URL / DATABASE_URL when set (used under a key prefix of our own and in a scratch
database: nothing else on them is read, flushed or changed), else throwaway servers started through
reflex_common.testing. Traffic goes to 127.0.0.1 only. Every process started here is stopped on exit
(also on Ctrl-C / SIGTERM).

    uv run python scripts/bench.py [--only ingress|processor|e2e] [--seconds 10] [--events 50000]
                                   [--connections 64] [--processors 1] [--load-generator auto|wrk|aiohttp]
                                   [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import os
import platform
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from reflex_common.testing.children import Child, stop_all, wait_ready

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCE_NAME = "bench"
BODY_BYTES = 1024
# Distinct signed bodies the load generators cycle through (the delivery id makes each request unique).
BODY_VARIANTS = 24
EVENT_TYPES: tuple[tuple[str, str | None], ...] = (
    ("push", None),
    ("issues", "opened"),
    ("pull_request", "synchronize"),
)
TARGET_INGRESS_RATIO = 0.75
TARGET_PROCESSOR_RATIO = 0.6
TARGET_E2E_RATE = 3000.0
WARMUP_S = 1.0
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 15.0
E2E_STALL_S = 60.0
COPY_RUNS = 3  # the raw COPY baseline is short: its median of 3
RESULT_MARK = "BENCH_RESULT "
QUOTA_MARK = "BENCH_QUOTA_REACHED"


def say(text: str = "") -> None:
    print(text, flush=True)


# --------------------------------------------------------------------------------------------------
# Webhook bodies


@dataclass(frozen=True, slots=True)
class Variant:
    body: bytes
    signature: str  # the X-Hub-Signature-256 value
    event: str  # the X-GitHub-Event value


def make_body(i: int, event: str, action: str | None, size: int = BODY_BYTES) -> bytes:
    """A GitHub-like JSON body of exactly `size` bytes."""
    stamp = "2024-05-01T12:00:00Z"
    doc: dict[str, Any] = {}
    if action is not None:
        doc["action"] = action
    doc["repository"] = {
        "id": 4242,
        "full_name": "octo-org/bench-repo",
        "private": False,
        "owner": {"login": "octo-org", "id": 1},
    }
    doc["sender"] = {"login": f"user{i}", "id": 1000 + i, "type": "User"}
    if event == "push":
        doc["ref"] = "refs/heads/main"
        doc["head_commit"] = {
            "id": hashlib.sha1(str(i).encode()).hexdigest(),
            "timestamp": stamp,
            "message": f"commit number {i}",
        }
    elif event == "issues":
        doc["issue"] = {"number": i, "title": f"issue {i}", "state": "open", "updated_at": stamp}
    else:
        doc["pull_request"] = {"number": i, "title": f"pr {i}", "state": "open", "updated_at": stamp}
    doc["padding"] = ""
    filler = size - len(orjson.dumps(doc))
    if filler < 0:
        raise ValueError(f"body template is larger than {size} bytes")
    doc["padding"] = "x" * filler
    body = orjson.dumps(doc)
    assert len(body) == size
    return body


def make_variants(secret: str, count: int = BODY_VARIANTS) -> list[Variant]:
    variants = []
    for i in range(count):
        event, action = EVENT_TYPES[i % len(EVENT_TYPES)]
        body = make_body(i, event, action)
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        variants.append(Variant(body, signature, event))
    return variants


def sources_yaml(secret_env: str) -> str:
    return f'sources:\n  - name: {SOURCE_NAME}\n    kind: github\n    secrets: ["env:{secret_env}"]\n'


# --------------------------------------------------------------------------------------------------
# Child processes


class Children:
    """Every process this script starts (each a Child: its own session); stopped on exit whatever happens."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def start(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        capture: bool = False,
    ) -> Child:
        child = Child(name, command, env=env, cwd=REPO_ROOT, log=log_path, pipe=capture)
        self._children.append(child)
        return child

    def stop(self, child: Child, grace_s: float = STOP_GRACE_S) -> None:
        self.stop_many([child], grace_s)

    def stop_many(self, children: list[Child], grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM them all at once, then SIGKILL the process group of any still running after grace_s."""
        stop_all(children, grace_s)
        self._children = [c for c in self._children if c not in children]

    def stop_all(self) -> None:
        """Load generators first (so no server drains under fire), then everything else together."""
        self.stop_many([c for c in self._children if c.name.startswith("load-")], grace_s=2.0)
        self.stop_many(list(self._children))


CHILDREN = Children()


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------------
# Load generators: wrk with a generated Lua script, or an aiohttp client in its own process


@dataclass
class LoadResult:
    generator: str
    requests: int  # completed requests
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)  # aiohttp only ("2xx"/"non2xx" for wrk)
    errors: int = 0  # socket errors, timeouts and HTTP statuses >= 400
    p50_ms: float | None = None
    p99_ms: float | None = None
    bounded: bool = False  # the request bound was reached before the duration ran out
    generator_cpu: float = 0.0  # the load generator's CPU use, in cores (1.0 = one core busy all along)
    generator_cores: int = 1  # cores it can use at most (wrk threads; 1 for the aiohttp client)

    @property
    def generator_saturated(self) -> bool:
        """Whether the load generator, not the server, may have been the limit."""
        return self.generator_cpu >= 0.75 * self.generator_cores

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    binary = wrk_binary()
    if binary is None:
        return "wrk (not installed)"
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False).stdout.strip()
    return out.split(" [")[0] if out else "wrk"


def _lua_string(data: bytes) -> str:
    """A quoted Lua string literal of `data` byte for byte (long brackets would turn CRLF into LF)."""
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in '"\\' or byte < 32 or byte > 126:
            out.append(f"\\{byte:03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def wrk_script(port: int, variants: list[Variant], run_id: str, quota_per_thread: int) -> str:
    """A wrk script: signed POSTs, each with its own X-GitHub-Delivery, requests pre-built except for
    that id; a thread stops after quota_per_thread requests; done() prints one JSON line."""
    heads, tails = [], []
    for v in variants:
        head = (
            f"POST /api/v1/events/{SOURCE_NAME} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Content-Type: application/json\r\n"
            f"X-GitHub-Event: {v.event}\r\n"
            f"X-Hub-Signature-256: {v.signature}\r\n"
            "User-Agent: GitHub-Hookshot/bench\r\n"
            f"Content-Length: {len(v.body)}\r\n"
            "X-GitHub-Delivery: "
        )
        heads.append(_lua_string(head.encode()))
        tails.append(_lua_string(b"\r\n\r\n" + v.body))
    return f"""-- generated by scripts/bench.py
local ffi = require("ffi")
ffi.cdef[[
typedef struct {{ long tv_sec; long tv_nsec; }} bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local heads = {{{", ".join(heads)}}}
local tails = {{{", ".join(tails)}}}
local nvariants = #heads
local idle = "GET /livez HTTP/1.1\\r\\nHost: 127.0.0.1:{port}\\r\\n\\r\\n"
local run_id = "{run_id}"
local quota = {quota_per_thread}
local threads = {{}}
local counter = 0
local prefix = ""
local inspected = false
t_first = 0
t_quota = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("bench_thread_id", #threads)
end

function init(args)
  prefix = run_id .. "-" .. tostring(bench_thread_id) .. "-"
end

function request()
  if bench_thread_id == 1 and not inspected then
    -- wrk calls request() once on its first thread to inspect it before anything is sent: not a request.
    inspected = true
    return idle
  end
  counter = counter + 1
  if counter == 1 then
    t_first = now_us()
  end
  if counter > quota then
    if counter == quota + 1 then
      -- Bounded: all {{quota}} requests are out; this thread stops, and bench.py ends wrk (SIGINT) once every
      -- thread has printed the mark (wrk would otherwise sleep out its whole -d duration).
      t_quota = now_us()
      wrk.thread:stop()
      io.write("{QUOTA_MARK}\\n")
      io.flush()
    end
    -- Past the bound: a request that stores nothing (and whose answer is never waited for).
    return idle
  end
  local i = (counter % nvariants) + 1
  return heads[i] .. prefix .. counter .. tails[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  local first, last, hit = nil, 0, 0
  for _, t in ipairs(threads) do
    local tf, tq = t:get("t_first"), t:get("t_quota")
    if tf > 0 and (first == nil or tf < first) then first = tf end
    if tq > 0 then hit = hit + 1 end
    if tq > last then last = tq end
  end
  local duration = summary.duration
  if hit == #threads and first ~= nil then duration = last - first end
  io.write(string.format(
    '{RESULT_MARK}{{"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,"p50_us":%d,"p99_us":%d,'
    .. '"bounded":%s}}\\n',
    summary.requests, duration, e.connect + e.read + e.write + e.timeout, e.status,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(99)), tostring(hit == #threads)))
end
"""


class LoadRun:
    """One run of the load generator, in a process of its own; start() then result()."""

    def __init__(
        self,
        generator: str,
        port: int,
        variants: list[Variant],
        *,
        seconds: float,
        connections: int,
        max_requests: int,
        workdir: Path,
        threads: int = 1,
    ) -> None:
        self.generator = generator
        self.port = port
        self.run_id = secrets.token_hex(6)
        self._proc: Child | None = None
        self._seconds = seconds
        self._threads = threads if generator == "wrk" else 1
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None
        url = f"http://127.0.0.1:{port}/api/v1/events/{SOURCE_NAME}"
        if generator == "wrk":
            binary = wrk_binary()
            assert binary is not None
            quota = max(1, math.ceil(max_requests / threads))
            script = workdir / f"load-{self.run_id}.lua"
            script.write_text(wrk_script(port, variants, self.run_id, quota))
            duration = max(1, math.ceil(seconds))
            self._command = [
                binary,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}",
            ]
        else:
            config = workdir / f"load-{self.run_id}.json"
            config.write_text(
                json.dumps(
                    {
                        "url": url,
                        "run_id": self.run_id,
                        "seconds": seconds,
                        "connections": connections,
                        "max_requests": max_requests,
                        "variants": [
                            {"body": v.body.hex(), "signature": v.signature, "event": v.event} for v in variants
                        ],
                    }
                )
            )
            self._command = [sys.executable, str(Path(__file__).resolve()), "--load-worker", str(config)]

    def start(self) -> LoadRun:
        self._rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._started = time.monotonic()
        self._proc = CHILDREN.start(f"load-{self.generator}", self._command, capture=True)
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True)
        self._reader.start()
        return self

    def _read(self, child: Child) -> None:
        """Collect the output; once every wrk thread has reached its quota, SIGINT makes wrk report at once
        (its main thread would otherwise sleep out the whole -d duration)."""
        marks = 0
        for raw in child.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self._lines.append(line)
            if line == QUOTA_MARK:
                marks += 1
                if marks == self._threads:
                    child.send(signal.SIGINT)

    def running(self) -> bool:
        return self._proc is not None and self._proc.alive

    def result(self) -> LoadResult:
        assert self._proc is not None and self._reader is not None
        try:
            self._proc.wait(self._seconds + 120)
            self._reader.join(timeout=10)
        finally:
            CHILDREN.stop(self._proc)
        # CPU of the children reaped meanwhile: the load generator alone (the servers still run).
        rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (rusage.ru_utime - self._rusage0.ru_utime) + (rusage.ru_stime - self._rusage0.ru_stime)
        cores = cpu_s / max(time.monotonic() - self._started, 1e-6)
        line = next((ln for ln in self._lines if ln.startswith(RESULT_MARK)), None)
        if line is None:
            code = self._proc.returncode
            text = "\n".join(self._lines[-30:])
            raise RuntimeError(f"{self.generator} load generator gave no result (exit {code}):\n{text}")
        data = json.loads(line[len(RESULT_MARK) :])
        if self.generator == "wrk":
            return LoadResult(
                generator="wrk",
                requests=int(data["requests"]),
                seconds=data["duration_us"] / 1e6,
                statuses={
                    "<400": int(data["requests"]) - int(data["status_errors"]),
                    ">=400": int(data["status_errors"]),
                },
                errors=int(data["errors"]) + int(data["status_errors"]),
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                bounded=bool(data["bounded"]),
                generator_cpu=cores,
                generator_cores=self._threads,
            )
        return LoadResult(**{**data, "generator_cpu": cores, "generator_cores": 1})


async def _aiohttp_load(config: dict[str, Any]) -> LoadResult:
    import aiohttp

    variants = [Variant(bytes.fromhex(v["body"]), v["signature"], v["event"]) for v in config["variants"]]
    url, run_id = config["url"], config["run_id"]
    max_requests, connections = int(config["max_requests"]), int(config["connections"])
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    sent = 0
    errors = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.monotonic() + float(config["seconds"])

        async def one_connection() -> None:
            nonlocal sent, errors
            while time.monotonic() < deadline and sent < max_requests:
                sent += 1
                v = variants[sent % len(variants)]
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": v.event,
                    "X-Hub-Signature-256": v.signature,
                    "X-GitHub-Delivery": f"{run_id}-1-{sent}",
                    "User-Agent": "GitHub-Hookshot/bench",
                }
                started = time.perf_counter()
                try:
                    async with session.post(url, data=v.body, headers=headers) as response:
                        await response.read()
                        statuses[str(response.status)] += 1
                        if response.status >= 400:
                            errors += 1
                except (aiohttp.ClientError, OSError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.monotonic()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        elapsed = time.monotonic() - began
    latencies.sort()

    def pct(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else None

    return LoadResult(
        generator="aiohttp",
        requests=len(latencies),
        seconds=elapsed,
        statuses=dict(statuses),
        errors=errors,
        p50_ms=pct(0.5),
        p99_ms=pct(0.99),
        bounded=sent >= max_requests,
    )


def load_worker_main(config_path: str) -> int:
    import uvloop

    config = json.loads(Path(config_path).read_text())
    result = uvloop.run(_aiohttp_load(config))
    print(RESULT_MARK + json.dumps(asdict(result)), flush=True)
    return 0


# --------------------------------------------------------------------------------------------------
# The servers of benchmark 1 (run as `bench.py --serve ingress|bare` in a subprocess)

_BARE_REPLY = orjson.dumps({"id": "00000000-0000-7000-8000-000000000000"})


def bare_app() -> Any:
    from aiohttp import web

    async def accept(_: web.Request) -> web.Response:
        return web.Response(status=202, body=_BARE_REPLY, content_type="application/json")

    async def livez(_: web.Request) -> web.Response:
        return web.Response(status=200, body=b'{"alive":true}', content_type="application/json")

    app = web.Application(client_max_size=1024 * 1024 + 1)  # what create_app sets for the default limit
    app.router.add_route("POST", "/api/v1/events/{source}", accept)
    app.router.add_get("/livez", livez)
    return app


async def _serve(kind: str) -> None:
    """Serve one app exactly the way reflex_ingress.__main__ serves the ingress."""
    from aiohttp import web

    provider = None
    if kind == "ingress":
        from prometheus_client import CollectorRegistry

        from reflex_common.logs import configure_logging
        from reflex_common.telemetry import create_tracer_provider
        from reflex_ingress.app import create_app
        from reflex_ingress.settings import IngressSettings
        from reflex_ingress.sources.config import load_sources
        from reflex_ingress.sources.registry import build_sources

        settings = IngressSettings()
        configure_logging(settings.log_level, service="ingress")
        provider = create_tracer_provider("reflex-ingress")
        app = create_app(
            settings,
            build_sources(load_sources(settings.sources_file)),
            provider.get_tracer("reflex_ingress"),
            CollectorRegistry(),
        )
    else:
        app = bare_app()
    host, port = os.environ.get("HTTP_HOST", "127.0.0.1"), int(os.environ["HTTP_PORT"])
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=10.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    if provider is not None:
        provider.shutdown()


def serve_main(kind: str) -> int:
    import uvloop

    uvloop.run(_serve(kind))
    return 0


# --------------------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    name: str
    summary: str  # the line printed for it
    value: float
    unit: str
    baseline: float | None
    baseline_label: str | None
    ratio: float | None
    target: str
    met: bool
    details: dict[str, Any] = field(default_factory=dict)


def fmt(value: float) -> str:
    return f"{value:,.0f}"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


# --------------------------------------------------------------------------------------------------
# 1. Ingress vs bare aiohttp


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
        f"server-{kind}", [sys.executable, str(Path(__file__).resolve()), "--serve", kind], env=server_env, log_path=log
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
    finally:
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
    )


def generator_label(generator: str, args: argparse.Namespace) -> str:
    if generator == "wrk":
        return f"{wrk_version()}, {args.wrk_threads} thread(s), Lua-signed POSTs"
    return "aiohttp client in a separate process (wrk not used)"


# --------------------------------------------------------------------------------------------------
# 2. Processor vs raw COPY


def raw_events(n: int, secret: str, sampled: bool) -> list[Any]:
    """n RawEvents as the ingress would have written them (github kind, 1 KiB signed bodies)."""
    from reflex_common.ids import new_event_id
    from reflex_common.schemas import RawEvent

    variants = make_variants(secret)
    now_ms = int(time.time() * 1000)
    events = []
    for i in range(n):
        v = variants[i % len(variants)]
        delivery = f"bench-{i}"
        received_ms = now_ms - (n - i) // 50  # in arrival order, 50 per millisecond
        trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
        events.append(
            RawEvent(
                event_id=new_event_id(received_ms),
                source=SOURCE_NAME,
                kind="github",
                received_at_ms=received_ms,
                body=v.body,
                headers={
                    "host": "127.0.0.1:8080",
                    "content-type": "application/json",
                    "x-github-event": v.event,
                    "user-agent": "GitHub-Hookshot/bench",
                    "content-length": str(len(v.body)),
                    "x-github-delivery": delivery,
                },
                content_type="application/json",
                delivery_key=delivery,
                # As the ingress writes them: sampled only when traces are exported (--traces-sampled).
                traceparent=f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}",
            )
        )
    return events


async def _bench_processor(args: argparse.Namespace, redis_url: str, db_url: str, prefix: str) -> dict[str, Any]:
    import psycopg
    from prometheus_client import CollectorRegistry
    from redis.asyncio import Redis

    from reflex_common.db import apply_migrations
    from reflex_common.keys import PROCESSOR_GROUP
    from reflex_common.telemetry import create_tracer_provider
    from reflex_processor import worker as processor_worker
    from reflex_processor.normalizer import normalize
    from reflex_processor.settings import ProcessorSettings
    from reflex_processor.store import _COLUMNS, event_row

    n = args.events
    settings = ProcessorSettings(
        redis_url=redis_url, database_url=db_url, key_prefix=prefix, consumer_name="bench-processor"
    )
    keys = settings.keys
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        await apply_migrations(conn)
        await conn.execute("CREATE TABLE events_copy_baseline (LIKE events INCLUDING ALL)")
        await conn.commit()

    # Pre-load the raw stream (the group exists first, as the ingress makes it).
    events = raw_events(n, secrets.token_hex(8), args.traces_sampled)
    redis = Redis.from_url(redis_url)
    try:
        with contextlib.suppress(Exception):
            await redis.xgroup_create(keys.raw_stream, PROCESSOR_GROUP, id="0", mkstream=True)
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
    rows = [event_row(stream_id, normalize(raw)) for stream_id, raw in zip(stream_ids, events, strict=True)]
    copy_runs: list[float] = []
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        for run in range(COPY_RUNS):
            if run:
                await conn.execute("TRUNCATE events_copy_baseline")
                await conn.commit()
            t = time.perf_counter()
            async with (
                conn.transaction(),
                conn.cursor().copy(f"COPY events_copy_baseline ({_COLUMNS}) FROM STDIN") as copy,
            ):
                for row in rows:
                    await copy.write_row(row)
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
    provider.shutdown()
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        stored = (await (await conn.execute("SELECT count(*) FROM events")).fetchone() or (0,))[0]
    if stored != n:
        raise RuntimeError(f"the processor stored {stored} rows, expected {n}")
    say(
        f"[processor]   event-processor: {fmt(n / processor_s)} rows/s ({stored:,} rows in {processor_s:.2f} s, "
        f"{batches:.0f} batches of {settings.batch_size}, {batch_sum / max(batches, 1) * 1000:.0f} ms per batch)"
    )
    return {
        "events": n,
        "copy_s": copy_s,
        "copy_runs_s": copy_runs,
        "processor_s": processor_s,
        "batch_size": settings.batch_size,
        "batches": batches,
        "mean_batch_ms": batch_sum / max(batches, 1) * 1000,
    }


def bench_processor(args: argparse.Namespace, redis_url: str, pg_url: str) -> Result:
    import uvloop

    from reflex_common.testing import delete_prefix, scratch_database, unique_prefix

    prefix = unique_prefix()
    say(f"[processor] {args.events:,} raw entries, 1 KiB github bodies, key prefix {prefix}, scratch database")
    try:
        with scratch_database(pg_url) as db_url:
            d = uvloop.run(_bench_processor(args, redis_url, db_url, prefix))
    finally:
        delete_prefix(redis_url, prefix)
    rate, baseline = d["events"] / d["processor_s"], d["events"] / d["copy_s"]
    ratio = rate / baseline
    met = ratio >= TARGET_PROCESSOR_RATIO
    summary = (
        f"processor vs raw COPY: processor {fmt(rate)} rows/s, raw COPY {fmt(baseline)} rows/s, "
        f"ratio {ratio:.2f} (target >= {TARGET_PROCESSOR_RATIO}: {verdict(met)})"
    )
    return Result(
        "processor", summary, rate, "rows/s", baseline, "raw COPY rows/s", ratio, f">= {TARGET_PROCESSOR_RATIO}", met, d
    )


# --------------------------------------------------------------------------------------------------
# 3. End to end


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
    )


# --------------------------------------------------------------------------------------------------


def print_summary(results: list[Result]) -> None:
    header = ("benchmark", "result", "baseline", "ratio", "target", "status")
    rows = [header]
    for r in results:
        rows.append(
            (
                r.name,
                f"{fmt(r.value)} {r.unit}",
                f"{fmt(r.baseline)} {r.unit}" if r.baseline is not None else "-",
                f"{r.ratio:.2f}" if r.ratio is not None else "-",
                r.target,
                verdict(r.met),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    say()
    say("summary")
    for i, row in enumerate(rows):
        say("  " + "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            say("  " + "  ".join("-" * w for w in widths))


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
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: this is a 2-core box)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--serve", choices=("ingress", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--load-worker", metavar="CONFIG", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.events, args.connections, args.max_requests, args.processors) < 1 or args.seconds <= 0:
        parser.error("--events, --seconds, --connections, --max-requests and --processors must be positive")
    return args


@contextlib.contextmanager
def servers(need_pg: bool) -> Iterator[tuple[str, str | None, dict[str, str]]]:
    from reflex_common.testing import postgres_server, redis_server

    with contextlib.ExitStack() as stack:
        origin = {"redis": "REDIS_URL" if os.environ.get("REDIS_URL") else "throwaway"}
        if not os.environ.get("REDIS_URL"):
            say("bench: starting a throwaway Redis ...")
        redis_url = stack.enter_context(redis_server())
        pg_url = None
        if need_pg:
            origin["postgres"] = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "throwaway"
            if not os.environ.get("DATABASE_URL"):
                say("bench: starting a throwaway PostgreSQL ...")
            pg_url = stack.enter_context(postgres_server())
        yield redis_url, pg_url, origin


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
    selected = args.only or ["ingress", "processor", "e2e"]
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
            for name in ("ingress", "processor", "e2e"):
                if name not in selected:
                    continue
                try:
                    if name == "ingress":
                        result = bench_ingress(args, redis_url, generator, workdir)
                    elif name == "processor":
                        assert pg_url is not None
                        result = bench_processor(args, redis_url, pg_url)
                    else:
                        assert pg_url is not None
                        result = bench_e2e(args, redis_url, pg_url, generator, workdir)
                except (RuntimeError, OSError) as exc:
                    failures.append(f"{name}: {exc}")
                    say(f"bench: {name} failed: {exc}")
                    continue
                results.append(result)
                say(result.summary)
                say()
    except MissingBinaryError as exc:
        say(f"bench: {exc}")
        return 1
    except (KeyboardInterrupt, SystemExit):
        say("bench: interrupted; stopping everything it started")
        return 130
    finally:
        CHILDREN.stop_all()
    print_summary(results)
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
                    },
                    "servers": origin,
                    "args": {
                        k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(args).items()
                        if k not in ("serve", "load_worker")
                    },
                    "results": [asdict(r) for r in results],
                    "failures": failures,
                },
                indent=2,
            )
            + "\n"
        )
        say(f"bench: results written to {args.json}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
