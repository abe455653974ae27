"""Running a worker service: health endpoint, SIGTERM wiring, drain within a grace period.

Used by the `__main__` of each worker; the worker objects themselves know nothing of signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Mapping
from typing import Protocol

import structlog
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_common.errors import ConfigError
from reflex_common.health import Check, health_app, serve
from reflex_common.heap import freeze_startup_heap
from reflex_common.metrics_registry import service_registry
from reflex_common.settings import WorkerSettings
from reflex_common.telemetry import create_tracer_provider


class Runnable(Protocol):
    ready_checks: Mapping[str, Check]

    async def run(self, *, burst: bool = False) -> None: ...

    def stop(self) -> None: ...

    def alive(self) -> bool: ...


async def run_until_signalled(
    worker: Runnable, registry: CollectorRegistry, health_port: int, drain_grace_s: float
) -> int:
    """Serve /metrics, /livez, /readyz and run the worker until SIGTERM/SIGINT. On the signal the
    worker stops reading and finishes the batch in hand; past drain_grace_s it is cancelled (its
    unacked entries stay pending and are recovered on the next start). Returns the exit code."""
    log = structlog.get_logger("runner")
    loop = asyncio.get_running_loop()
    freeze_startup_heap()  # the worker is wired up: what is alive now lives as long as the process
    task = asyncio.create_task(worker.run(), name="worker")
    deadline: list[asyncio.TimerHandle] = []

    def on_signal(signum: int) -> None:
        log.info("stop_requested", signal=signal.Signals(signum).name, grace_s=drain_grace_s)
        worker.stop()
        if not deadline:
            deadline.append(loop.call_later(drain_grace_s, task.cancel))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    async with serve(health_app(registry, worker.ready_checks, worker.alive), health_port):
        try:
            await task
        except asyncio.CancelledError:
            log.error("drain_timed_out", grace_s=drain_grace_s)
            return 1
        finally:
            for handle in deadline:
                handle.cancel()
    log.info("worker_exited")
    return 0


async def serve_worker(
    service: str,
    settings: WorkerSettings,
    build: Callable[[Tracer, CollectorRegistry], contextlib.AbstractAsyncContextManager[Runnable]],
) -> int:
    """What a worker's `main()` runs: tracing and metrics made, the worker built by `build`, run
    until signalled, tracing flushed. Returns the exit code."""
    provider = create_tracer_provider(service)
    registry = service_registry(service)
    try:
        async with build(provider.get_tracer(service), registry) as worker:
            return await run_until_signalled(worker, registry, settings.health_port, settings.drain_grace_s)
    except ConfigError as exc:
        # A server the service must not run on (eviction on, a durability it cannot honour): one line.
        print(f"{service}: configuration error: {exc}", file=sys.stderr)
        return 2
    finally:
        provider.shutdown()
