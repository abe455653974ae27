"""Metric-worker settings, read from the environment once by main()."""

from __future__ import annotations

from pydantic import Field

from reflex_common.settings import WorkerSettings


class MetricSettings(WorkerSettings):
    window_s: int = Field(default=60, ge=1, le=86_400)
    # A window closes once wall clock or event time is this far past its end; events later than
    # that still count, and the window is emitted again as a revision.
    lateness_s: float = Field(default=10.0, ge=0)
    close_interval_s: float = Field(default=5.0, gt=0)
    # At most this many windows per series are closed in one pass (a series silent for days
    # catches up over several passes instead of one huge transaction).
    max_windows_per_pass: int = Field(default=1440, ge=1)
    windows_groups: tuple[str, ...] = ("anomaly-detector",)
    # How long counted event ids are remembered (exactly-once counting of redeliveries). A
    # redelivery comes within MIN_IDLE_MS × MAX_DELIVERIES; a week leaves room for long outages.
    counted_retention_s: int = Field(default=7 * 86_400, ge=3600)
