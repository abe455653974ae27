"""`python -m reflex_processor`: read the environment, configure logging and tracing, run."""

from __future__ import annotations

import uvloop

from reflex_common.logs import configure_logging
from reflex_common.runner import serve_worker
from reflex_common.settings import load_settings
from reflex_processor.settings import ProcessorSettings
from reflex_processor.worker import create_worker


def main() -> None:
    settings = load_settings(ProcessorSettings, "reflex-event-processor")
    configure_logging(settings.log_level, service="event-processor")
    raise SystemExit(
        uvloop.run(
            serve_worker(
                "reflex-event-processor", settings, lambda tracer, registry: create_worker(settings, tracer, registry)
            )
        )
    )


if __name__ == "__main__":
    main()
