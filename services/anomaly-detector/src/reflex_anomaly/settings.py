"""Anomaly-detector settings, read from the environment once by main()."""

from __future__ import annotations

from pydantic import Field

from reflex_anomaly.detector import DetectorConfig
from reflex_anomaly.incidents import DEFAULT_RESOLVE_AFTER_WINDOWS
from reflex_common.settings import WorkerSettings

_D = DetectorConfig()


class AnomalySettings(WorkerSettings):
    # A revision (late events) of one of a series' last this-many windows judges it again.
    revisable_windows: int = Field(default=3, ge=1, le=50)
    # The detector's settings (docs/detection.md says what each trades); defaults are DetectorConfig's.
    # No verdict until a series has this many windows of history.
    min_history: int = Field(default=_D.min_history, ge=3)
    # Half-width of the band reported with a verdict (and judging alone while the model learns a new
    # series), in robust standard deviations of the recent windows.
    threshold_sigmas: float = Field(default=_D.threshold_sigmas, gt=0)
    # Silence needs at least this many events per window before the empty ones ...
    silence_min_expected: float = Field(default=_D.silence_min_expected, gt=0)
    # ... and empty windows a Poisson source at that level gives with probability below this.
    silence_p: float = Field(default=_D.silence_p, gt=0, lt=1)
    # A spike or drop needs an anomaly score (context novelty) at least this high.
    alert_score: float = Field(default=_D.alert_score, gt=0, le=1)
    # After a spike or drop, no other for this many windows (one anomaly, one verdict).
    refractory_windows: int = Field(default=_D.refractory_windows, ge=0)
    # Counts with Poisson-like noise: a spike or drop must be at least this unlikely at the expected rate.
    count_tail_p: float = Field(default=_D.count_tail_p, gt=0, lt=1)
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
            silence_p=self.silence_p,
            alert_score=self.alert_score,
            refractory_windows=self.refractory_windows,
            count_tail_p=self.count_tail_p,
        )
