"""Anomaly-detector settings, read from the environment once by main()."""

from __future__ import annotations

from pydantic import Field

from reflex_anomaly.detector import DetectorConfig
from reflex_anomaly.incidents import DEFAULT_RESOLVE_AFTER_WINDOWS
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
    # An open incident resolves after this many windows in a row without its kind of verdict.
    resolve_after_windows: int = Field(default=DEFAULT_RESOLVE_AFTER_WINDOWS, ge=1)
    # Alertmanager to deliver incidents to (its base URL; alerts go to /api/v2/alerts). Unset: no
    # delivery, and the reflex_anomaly_open gauge alone tells Prometheus.
    alertmanager_url: str = ""
    # A firing alert is re-sent this often, each time valid for four times as long (endsAt).
    alert_resend_interval_s: float = Field(default=60.0, gt=0)
    # A failed delivery is retried after this, doubling per failure up to alert_retry_max_s.
    alert_retry_initial_s: float = Field(default=1.0, gt=0)
    alert_retry_max_s: float = Field(default=60.0, gt=0)
    alertmanager_timeout_s: float = Field(default=5.0, gt=0)
    # The runbook_url annotation of every alert.
    alert_runbook_url: str = "docs/runbooks/ReflexAnomaly.md"

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            min_history=self.min_history,
            threshold_sigmas=self.threshold_sigmas,
            silence_min_expected=self.silence_min_expected,
            alert_score=self.alert_score,
        )
