"""The pipeline's services as subprocesses for the end-to-end benchmarks, and what is read from them
while they run: CPU and RSS of each process, CPU of Redis and of the PostgreSQL backends, the streams'
backlog, the events stored and counted."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.processes import CHILDREN, child_env, cpu_s, tree_cpu_s
from reflex_common.testing.children import Child, wait_ready

READY_TIMEOUT_S = 60.0


@dataclass
class Pipeline:
    procs: list[Child]
    http_port: int | None
    health_ports: dict[str, int]
    db_url: str

    def check_alive(self) -> None:
        for proc in self.procs:
            if not proc.alive:
                raise RuntimeError(f"{proc.name} exited with {proc.exit_description()} during the run")


@contextlib.contextmanager
def running_pipeline(
    *,
    redis_url: str,
    db_url: str,
    prefix: str,
    workdir: Path,
    processors: int,
    ingress: dict[str, str] | None = None,
) -> Iterator[Pipeline]:
    """processor-1..N and the metric-worker, and the ingress when `ingress` gives its environment
    (SOURCES_FILE, the secret); stopped (SIGTERM, then SIGKILL) when the block ends."""
    from reflex_common.testing import free_port

    specs: list[tuple[str, str, dict[str, str]]] = [
        (f"processor-{i}", "reflex_processor", {"CONSUMER_NAME": f"bench-processor-{i}"})
        for i in range(1, processors + 1)
    ]
    specs.append(("metric-worker", "reflex_metrics", {"CONSUMER_NAME": "bench-metrics"}))
    http_port = None
    if ingress is not None:
        http_port = free_port()
        specs.append(("ingress", "reflex_ingress", {**ingress, "HTTP_PORT": str(http_port), "HTTP_HOST": "127.0.0.1"}))
    common = {"REDIS_URL": redis_url, "DATABASE_URL": db_url, "KEY_PREFIX": prefix}
    procs: list[Child] = []
    health: dict[str, int] = {}
    try:
        for name, module, extra in specs:
            health[name] = free_port()
            env = child_env(**common, HEALTH_PORT=str(health[name]), **extra)
            log = workdir / f"e2e-{name}-{prefix}.log"
            procs.append(CHILDREN.start(name, [sys.executable, "-m", module], env=env, log_path=log))
        urls = [f"http://127.0.0.1:{http_port if p.name == 'ingress' else health[p.name]}/readyz" for p in procs]
        wait_ready(urls, procs, READY_TIMEOUT_S)
        yield Pipeline(procs, http_port, health, db_url)
    finally:
        CHILDREN.stop_many(procs, grace_s=30)


def rss_bytes(pid: int) -> int:
    """Resident set size of a running process (Linux: VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def redis_cpu_s(redis: Any) -> float:
    """CPU seconds the Redis server has used (INFO cpu): ours alone when it is a throwaway server."""
    info = redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def postgres_cpu_s(conn: Any) -> float | None:
    """CPU seconds of the backends connected to this database, where they run on this machine."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()").fetchall()
    try:
        return sum(cpu_s(int(pid)) for (pid,) in rows)
    except OSError:  # a remote server, or a backend that has just exited
        return None


def backlog(redis: Any, stream: str) -> int:
    """Entries of `stream` not yet acked by every group: lag plus pending, summed over its groups."""
    try:
        groups = redis.xinfo_groups(stream)
    except Exception:  # no stream yet
        return 0
    return sum(int(g.get("lag") or 0) + int(g["pending"]) for g in groups)


def counted(conn: Any) -> int:
    row = conn.execute("SELECT coalesce(sum(count), 0) FROM metric_counts WHERE type = '*'").fetchone()
    return int(row[0]) if row else 0


def wait_counted(pipeline: Pipeline, conn: Any, n: int, stall_s: float, what: str) -> int:
    """Wait until n events are counted; RuntimeError when the count stops moving for stall_s or a
    service exits. Returns the count."""
    last, last_change = -1, time.perf_counter()
    while (done := counted(conn)) < n:
        if done != last:
            last, last_change = done, time.perf_counter()
        elif time.perf_counter() - last_change > stall_s:
            raise RuntimeError(f"{what} stalled: {done:,} of {n:,} counted")
        pipeline.check_alive()
        time.sleep(0.05)
    return done


@dataclass
class Sample:
    t_s: float
    values: dict[str, float]


@dataclass
class Sampler:
    """Calls `read` every interval_s in a thread of its own between start() and stop(); keeps the samples."""

    read: Callable[[], dict[str, float]]
    interval_s: float
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    errors: list[str] = field(default_factory=list)

    def start(self) -> Sampler:
        t0 = time.perf_counter()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.samples.append(Sample(time.perf_counter() - t0, self.read()))
                except Exception as exc:  # a process gone between listing and reading: the run says why
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=loop, daemon=True, name="bench-sampler")
        self._thread.start()
        return self

    def stop(self) -> list[Sample]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.samples


def cpu_reading(procs: list[Child], redis: Any, conn: Any) -> dict[str, float | None]:
    """CPU seconds so far of each process, of Redis and of the PostgreSQL backends (None: unreadable)."""
    reading: dict[str, float | None] = {p.name: tree_cpu_s(p.pid) for p in procs}
    reading["redis"] = redis_cpu_s(redis)
    reading["postgres"] = postgres_cpu_s(conn)
    return reading


@dataclass
class E2eRun:
    """What the end-to-end runs on one set of services share."""

    args: Any  # argparse.Namespace
    pipeline: Pipeline
    redis: Any  # a redis.Redis client
    conn: Any  # an autocommit psycopg connection to the scratch database
    keys: Any  # reflex_common.keys.Keys of the run's prefix
    generator: str
    variants: list[Any]  # benchmarks.bodies.Variant
    workdir: Path


def cpu_per_event_us(before: dict[str, float | None], after: dict[str, float | None], events: int) -> dict[str, float]:
    """µs of CPU per event of each process between two readings (those readable both times)."""
    out = {}
    for name, start in before.items():
        end = after.get(name)
        if start is not None and end is not None:
            out[name] = (end - start) * 1e6 / max(events, 1)
    return out


def slope_per_s(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (t, y) points, in y per second (0 for fewer than two points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


def os_cpus() -> int:
    return os.cpu_count() or 1
