"""`python -m reflex_anomaly`: read the environment, configure logging and tracing, run."""

from __future__ import annotations

import uvloop

from reflex_anomaly.settings import AnomalySettings
from reflex_anomaly.worker import create_worker
from reflex_common.logs import configure_logging
from reflex_common.runner import serve_worker
from reflex_common.settings import load_settings


def main() -> None:
    settings = load_settings(AnomalySettings, "reflex-anomaly-detector")
    configure_logging(settings.log_level, service="anomaly-detector")
    raise SystemExit(
        uvloop.run(
            serve_worker(
                "reflex-anomaly-detector", settings, lambda tracer, registry: create_worker(settings, tracer, registry)
            )
        )
    )


if __name__ == "__main__":
    main()
