"""Event-processor settings, read from the environment once by main()."""

from __future__ import annotations

from reflex_common.settings import WorkerSettings


class ProcessorSettings(WorkerSettings):
    # Consumer groups that read the events stream; created here so their backlog counts at once.
    events_groups: tuple[str, ...] = ("metric-worker",)
    # Two batches at once: one is parsed while the other waits on Postgres and Redis. Safe: batches
    # hold different event ids, and Postgres arbitrates repeated delivery keys.
    max_concurrent_batches: int = 2
