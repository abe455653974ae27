"""Anomaly-detector settings, read from the environment once by main()."""

from __future__ import annotations

from pydantic import Field

from reflex_anomaly.detector import DetectorConfig
from reflex_common.settings import WorkerSettings


class AnomalySettings(WorkerSettings):
    # A revision (late events) of one of a series' last this-many windows judges it again.
    revisable_windows: int = Field(default=3, ge=1, le=50)
    # No verdict until a series has this many windows of history.
    min_history: int = Field(default=10, ge=3)
    # Band half-width, in robust standard deviations.
    threshold_sigmas: float = Field(default=4.0, gt=0)
    # A zero window is "silence" only where the baseline expects at least this many events.
    silence_min_expected: float = Field(default=3.0, gt=0)
    # A spike or drop needs an anomaly score at least this high (see docs/detection.md).
    alert_score: float = Field(default=0.9999, gt=0, le=1)
    # An open incident resolves after this many windows back in band.
    resolve_after_windows: int = Field(default=10, ge=1)

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            min_history=self.min_history,
            threshold_sigmas=self.threshold_sigmas,
            silence_min_expected=self.silence_min_expected,
            alert_score=self.alert_score,
        )
