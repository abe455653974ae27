"""`python -m reflex_anomaly`: read the environment, configure logging and tracing, run."""

from __future__ import annotations

import uvloop
from prometheus_client import CollectorRegistry

from reflex_anomaly.settings import AnomalySettings
from reflex_anomaly.worker import create_worker
from reflex_common.logs import configure_logging
from reflex_common.runner import run_until_signalled
from reflex_common.settings import load_settings
from reflex_common.telemetry import create_tracer_provider


async def _run(settings: AnomalySettings) -> int:
    provider = create_tracer_provider("reflex-anomaly-detector")
    registry = CollectorRegistry()
    try:
        async with create_worker(settings, provider.get_tracer("reflex_anomaly"), registry) as worker:
            return await run_until_signalled(worker, registry, settings.health_port, settings.drain_grace_s)
    finally:
        provider.shutdown()


def main() -> None:
    settings = load_settings(AnomalySettings, "reflex-anomaly-detector")
    configure_logging(settings.log_level, service="anomaly-detector")
    raise SystemExit(uvloop.run(_run(settings)))


if __name__ == "__main__":
    main()
