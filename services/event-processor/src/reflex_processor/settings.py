"""Event-processor settings, read from the environment once by main()."""

from __future__ import annotations

from reflex_common.settings import WorkerSettings


class ProcessorSettings(WorkerSettings):
    # Consumer groups that read the events stream; created here so their backlog counts at once.
    events_groups: tuple[str, ...] = ("metric-worker",)
