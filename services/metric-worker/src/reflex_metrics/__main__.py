"""`python -m reflex_metrics`: read the environment, configure logging and tracing, run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvloop
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_common.logs import configure_logging
from reflex_common.runner import Runnable, serve_worker
from reflex_common.settings import load_settings
from reflex_metrics.settings import MetricSettings
from reflex_metrics.worker import create_worker


@contextlib.asynccontextmanager
async def _consumer_of(
    settings: MetricSettings, tracer: Tracer, registry: CollectorRegistry
) -> AsyncIterator[Runnable]:
    """The worker alone (tests also use the window closer create_worker yields beside it)."""
    async with create_worker(settings, tracer, registry) as (worker, _closer):
        yield worker


def main() -> None:
    settings = load_settings(MetricSettings, "reflex-metric-worker")
    configure_logging(settings.log_level, service="metric-worker")
    raise SystemExit(
        uvloop.run(
            serve_worker(
                "reflex-metric-worker", settings, lambda tracer, registry: _consumer_of(settings, tracer, registry)
            )
        )
    )


if __name__ == "__main__":
    main()
