"""`python -m reflex_metrics`: read the environment, configure logging and tracing, run."""

from __future__ import annotations

import uvloop
from prometheus_client import CollectorRegistry

from reflex_common.logs import configure_logging
from reflex_common.runner import run_until_signalled
from reflex_common.settings import load_settings
from reflex_common.telemetry import create_tracer_provider
from reflex_metrics.settings import MetricSettings
from reflex_metrics.worker import create_worker


async def _run(settings: MetricSettings) -> int:
    provider = create_tracer_provider("reflex-metric-worker")
    registry = CollectorRegistry()
    try:
        async with create_worker(settings, provider.get_tracer("reflex_metrics"), registry) as (worker, _):
            return await run_until_signalled(worker, registry, settings.health_port, settings.drain_grace_s)
    finally:
        provider.shutdown()


def main() -> None:
    settings = load_settings(MetricSettings, "reflex-metric-worker")
    configure_logging(settings.log_level, service="metric-worker")
    raise SystemExit(uvloop.run(_run(settings)))


if __name__ == "__main__":
    main()
