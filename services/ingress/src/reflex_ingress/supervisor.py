"""INGRESS_WORKERS=N: N worker processes share the webhook port (SO_REUSEPORT, the kernel spreads
connections over them); this parent process starts and watches them and serves the health port.

- /metrics: every worker's metrics summed (prometheus_client's multiprocess mode: each worker writes
  its counters and histograms to files in PROMETHEUS_MULTIPROC_DIR, the parent reads them all at
  scrape time), plus the parent's own process metrics and `reflex_ingress_worker_restarts_total`.
- /livez: every worker is running. /readyz: every worker has started, the webhook port answers its
  /readyz (some worker's Redis and backlog checks), and the parent is not stopping.
- SIGTERM / SIGINT: readiness turns false, every worker gets SIGTERM and drains as a single ingress
  does (stop accepting, finish in-flight requests, write what is queued); SIGKILL after
  DRAIN_TIMEOUT_S. A worker that exits on its own is restarted after a backoff; one that exits before
  it ever started (a configuration error) stops them all with its exit code.

Each worker holds one end of a socket pair: it writes a byte once it serves, and the parent sees EOF
when the worker is gone; the worker sees EOF when the parent is gone (killed) and drains and exits.
Workers run in their own sessions: a terminal's Ctrl-C reaches the parent only, which forwards it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from aiohttp import ClientSession, ClientTimeout
from prometheus_client import Counter
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from reflex_common.health import health_app, serve
from reflex_common.metrics_registry import service_registry
from reflex_common.redis_client import redis_from_url
from reflex_ingress.settings import IngressSettings

# Set by the parent on each worker: "<index>:<fd of its end of the socket pair>".
WORKER_ENV = "REFLEX_INGRESS_WORKER"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# How long the workers may take to drain after SIGTERM before they are killed (within Kubernetes'
# default 30 s termination grace period).
DRAIN_TIMEOUT_S = 25.0
RESTART_BACKOFF_S = (1.0, 30.0)  # first, most

log = structlog.get_logger("ingress")


@dataclass
class Worker:
    index: int
    process: asyncio.subprocess.Process
    channel: socket.socket
    started: bool = False
    exited: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    def __init__(self, settings: IngressSettings, metrics_dir: Path) -> None:
        self.settings = settings
        self.metrics_dir = metrics_dir
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.failed_start: int | None = None  # exit code of a worker that never started
        self.registry = service_registry("reflex-ingress")
        MultiProcessCollector(self.registry, path=str(metrics_dir))  # type: ignore[no-untyped-call]
        self.restarts = Counter(
            "reflex_ingress_worker_restarts_total",
            "Ingress worker processes restarted after they exited on their own.",
            registry=self.registry,
        )

    async def spawn(self, index: int) -> Worker:
        parent_end, child_end = socket.socketpair()
        env = {**os.environ, WORKER_ENV: f"{index}:{child_end.fileno()}", MULTIPROC_ENV: str(self.metrics_dir)}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reflex_ingress",
            env=env,
            pass_fds=(child_end.fileno(),),
            start_new_session=True,
        )
        child_end.close()
        parent_end.setblocking(False)
        worker = Worker(index, process, parent_end)
        self.workers[index] = worker
        log.info("ingress_worker_started", worker=index, pid=process.pid)
        return worker

    async def watch(self, worker: Worker) -> None:
        """Until the worker is gone: note when it starts serving; then restart it unless stopping."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            while await loop.sock_recv(worker.channel, 1):
                worker.started = True
        code = await worker.process.wait()
        worker.channel.close()
        mark_process_dead(worker.process.pid, str(self.metrics_dir))  # type: ignore[no-untyped-call]
        worker.exited.set()
        if self.stopping:
            return
        if not worker.started:
            log.error("ingress_worker_failed_to_start", worker=worker.index, exit_code=code)
            self.failed_start = code or 1
            return
        log.warning("ingress_worker_exited", worker=worker.index, exit_code=code)
        self.restarts.inc()
        await asyncio.sleep(RESTART_BACKOFF_S[0])
        if not self.stopping:
            self._watch(await self.spawn(worker.index))

    def _watch(self, worker: Worker) -> None:
        task = asyncio.create_task(self.watch(worker), name=f"ingress-worker-{worker.index}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def alive(self) -> bool:
        return len(self.workers) == self.settings.ingress_workers and all(
            w.process.returncode is None for w in self.workers.values()
        )

    async def _workers_ready(self) -> bool:
        return not self.stopping and self.alive() and all(w.started for w in self.workers.values())

    async def _webhook_port_ready(self) -> bool:
        host = self.settings.http_host
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
        url = f"http://{_bracketed(host)}:{self.settings.http_port}/readyz"
        async with ClientSession(timeout=ClientTimeout(total=2.0)) as session, session.get(url) as response:
            return response.status == 200

    async def _redis(self) -> bool:
        return bool(await self._redis_client.ping())

    async def run(self, stop: asyncio.Event) -> int:
        self._tasks: set[asyncio.Task[None]] = set()
        self._redis_client = redis_from_url(self.settings.redis_url, socket_timeout=self.settings.redis_timeout_s)
        checks = {"workers": self._workers_ready, "webhook_port": self._webhook_port_ready, "redis": self._redis}
        ops = health_app(self.registry, checks, self.alive)
        try:
            async with serve(ops, self.settings.health_port):
                for index in range(self.settings.ingress_workers):
                    self._watch(await self.spawn(index))
                log.info("ingress_supervisor_started", workers=self.settings.ingress_workers)
                while not stop.is_set() and self.failed_start is None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)
                await self.drain()
        finally:
            await self._redis_client.aclose()
        return self.failed_start or max((w.process.returncode or 0 for w in self.workers.values()), default=0)

    async def drain(self) -> None:
        """SIGTERM to every worker; SIGKILL to those still running after DRAIN_TIMEOUT_S."""
        self.stopping = True
        log.info("ingress_stopping", workers=len(self.workers))
        for worker in self.workers.values():
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        waits = [w.exited.wait() for w in self.workers.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), DRAIN_TIMEOUT_S)
        except TimeoutError:
            for worker in self.workers.values():
                if worker.process.returncode is None:
                    log.error("ingress_worker_killed", worker=worker.index, after_s=DRAIN_TIMEOUT_S)
                    worker.process.kill()
            await asyncio.gather(*(w.exited.wait() for w in self.workers.values()))
        for task in list(self._tasks):
            task.cancel()


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def worker_of(environ: dict[str, str] | os._Environ[str]) -> tuple[int, socket.socket] | None:
    """(index, channel to the parent) when this process is a worker of a supervisor, else None."""
    value = environ.get(WORKER_ENV)
    if not value:
        return None
    index, _, fd = value.partition(":")
    return int(index), socket.socket(fileno=int(fd))


async def watch_parent(channel: socket.socket, stop: asyncio.Event) -> None:
    """A worker's side: tell the parent it serves, then set `stop` when the parent is gone."""
    loop = asyncio.get_running_loop()
    channel.setblocking(False)
    with contextlib.suppress(OSError):
        await loop.sock_sendall(channel, b"1")
        while await loop.sock_recv(channel, 1):
            pass
    stop.set()


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """PROMETHEUS_MULTIPROC_DIR when set (emptied first: files of earlier runs would be summed in),
    else a directory of our own, removed at exit."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="reflex-ingress-metrics-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def supervise(settings: IngressSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with metrics_directory() as path:
        return await Supervisor(settings, path).run(stop)
