"""Anomaly-detector settings, read from the environment once by main()."""

from __future__ import annotations

from pydantic import Field

from reflex_common.settings import WorkerSettings


class AnomalySettings(WorkerSettings):
    # Windows of history kept per series (the baseline).
    history_windows: int = Field(default=60, ge=3)
    # No verdict until a series has this many windows of history.
    min_history: int = Field(default=10, ge=3)
    # Band half-width, in robust standard deviations.
    threshold_sigmas: float = Field(default=4.0, gt=0)
    # A zero window is "silence" only where the baseline expects at least this many events.
    silence_min_expected: float = Field(default=3.0, gt=0)
