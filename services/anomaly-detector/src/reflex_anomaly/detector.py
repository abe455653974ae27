"""Spikes, drops and silence in one series of per-window values, judged window by window. Pure.

`SeriesDetector.observe(at_s, window_s, value)` sees each window once, in order, with no look-ahead,
in O(window) time, and returns a `Judgement`: an anomaly score in [0, 1] and, when the window is
anomalous, a `Verdict` (kind, direction, observed, expected, band, one-sentence explanation). Its state
is JSON (`state()` / `SeriesDetector(config, state)`), persisted per series by the handler.

The method (docs/detection.md says why, what each setting trades, and how it scores on NAB):
- the anomaly score is context novelty (`context.py`): how new the recent pattern of values is against
  everything the series has shown, damped by how novel the series usually is;
- a score at or over `alert_score` is a verdict, after which the detector rests `refractory_windows`
  (scores 0, no spike or drop verdicts: one anomaly, one verdict);
- until the novelty model has learned the series (its first windows), a robust band alone judges;
- a series of integer counts whose noise looks Poisson gets a verdict only for a value a Poisson source
  at the expected rate would give with probability under `count_tail_p`: low-rate sources never page
  on noise;
- silence is its own rule: a run of empty windows, where the level before it was at least
  `silence_min_expected`, empty windows were rare, a Poisson source at that level would be this quiet
  with probability under `silence_p`, and — once a day of history exists — this hour of the day is
  not normally quiet.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from reflex_anomaly.context import ContextConfig, ContextModel

AnomalyKind = Literal["spike", "drop", "silence"]
Direction = Literal["up", "down"]

_MAD_TO_SIGMA = 1.4826
_STATE_VERSION = 3


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    # No verdict before this many windows of history.
    min_history: int = 10
    # Half-width of the band reported with a verdict (and used alone while the model learns), in
    # robust standard deviations of the recent windows.
    threshold_sigmas: float = 6.0
    # Silence needs a level of at least this many events per window before the empty windows ...
    silence_min_expected: float = 2.5
    # ... and a run of empty windows that a Poisson source at that level gives with probability below this.
    silence_p: float = 2e-4
    # Anomaly score at or above which a window is anomalous.
    alert_score: float = 0.65
    # Windows after a spike or drop verdict in which no other is given (the score reads 0).
    refractory_windows: int = 100
    # Counts with Poisson-like noise: a spike or drop must be this unlikely at the expected rate.
    count_tail_p: float = 1e-6
    # Windows of recent values behind the expected value and the band.
    recent_windows: int = 30
    context: ContextConfig = field(default_factory=ContextConfig)


@dataclass(frozen=True, slots=True)
class Band:
    expected: float
    lower: float
    upper: float
    sigma: float


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: AnomalyKind
    direction: Direction
    observed: float
    band: Band
    score: float
    explanation: str


@dataclass(frozen=True, slots=True)
class Judgement:
    score: float
    verdict: Verdict | None


def poisson_upper_tail(k: float, lam: float) -> float:
    """P(X ≥ k) for X ~ Poisson(lam)."""
    n = math.ceil(k)
    if n <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if n <= lam:  # the bulk: 1 − P(X < n)
        term = total = math.exp(-lam)
        for i in range(1, n):
            term *= lam / i
            total += term
        return max(0.0, 1.0 - total)
    term = math.exp(-lam + n * math.log(lam) - math.lgamma(n + 1))  # the tail, summed upward
    total, i = 0.0, n
    while term > 1e-17 * total and i < n + 100_000:
        total += term
        i += 1
        term *= lam / i
    return min(1.0, total)


def poisson_lower_tail(k: float, lam: float) -> float:
    """P(X ≤ k) for X ~ Poisson(lam)."""
    n = math.floor(k)
    if n < 0:
        return 0.0
    if lam <= 0:
        return 1.0
    if n >= lam:
        return max(0.0, 1.0 - poisson_upper_tail(n + 1, lam))
    term = math.exp(-lam + n * math.log(lam) - math.lgamma(n + 1))  # the tail, summed downward
    total = 0.0
    for i in range(n, -1, -1):
        total += term
        if term < 1e-17 * total:
            break
        term *= i / lam
    return min(1.0, total)


class SeriesDetector:
    """The judge of one series. Feed it every window in order."""

    def __init__(self, config: DetectorConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        s = state if state and state.get("v") == _STATE_VERSION else {}
        self.model = ContextModel(config.context, s.get("model"))
        self.n: int = s.get("n", 0)
        self.counts: bool = s.get("counts", True)
        self.rest: int = s.get("rest", 0)
        self.recent: list[float] = list(s.get("recent", ()))
        self.level: float = s.get("level", 0.0)  # slow EMA of the values
        self.mean_all: float = s.get("mean_all", 0.0)
        self.dispersion: float = s.get("dispersion", 0.0)  # EMA of half the squared step
        self.zero_share: float = s.get("zero_share", 0.0)  # EMA of the share of empty windows
        self.zero_run: int = s.get("zero_run", 0)
        self.run_level: float = s.get("run_level", 0.0)
        self.run_zero_share: float = s.get("run_zero_share", 0.0)
        self.silence_said: bool = s.get("silence_said", False)
        self.first_at_s: float | None = s.get("first_at_s")
        self.by_hour: list[float | None] = list(s.get("by_hour", [None] * 24))  # EMA per hour of day

    def state(self) -> dict[str, Any]:
        return {
            "v": _STATE_VERSION,
            "model": self.model.state(),
            "n": self.n,
            "counts": self.counts,
            "rest": self.rest,
            "recent": self.recent,
            "level": self.level,
            "mean_all": self.mean_all,
            "dispersion": self.dispersion,
            "zero_share": self.zero_share,
            "zero_run": self.zero_run,
            "run_level": self.run_level,
            "run_zero_share": self.run_zero_share,
            "silence_said": self.silence_said,
            "first_at_s": self.first_at_s,
            "by_hour": self.by_hour,
        }

    def observe(self, at_s: float, window_s: float, value: float) -> Judgement:
        c = self.config
        if self.counts and (value < 0 or value != int(value)):
            self.counts = False
        if self.first_at_s is None:
            self.first_at_s = at_s
        hour = datetime.fromtimestamp(at_s, UTC).hour
        day_known = at_s - self.first_at_s >= 86_400
        score = self.model.score(value, hour)
        verdict: Verdict | None = None
        if self.rest > 0:
            self.rest -= 1
            score = 0.0
        elif self.n >= c.min_history and len(self.recent) >= 3:
            band = self._band()
            anomalous = self.model.ready and score >= c.alert_score
            young = self.n < c.context.learn_windows + c.context.rate_windows
            if not anomalous and young and not band.lower <= value <= band.upper:
                # a young series (the model still learning it or its novelty rate): the band judges too
                anomalous, score = True, max(score, c.alert_score)
            if anomalous and (not self._poisson_like() or self._poisson_rare(value, hour, day_known)):
                verdict = self._spike_or_drop(value, band, score)
                self.rest = c.refractory_windows
        silence = self._silence(value, hour, day_known)
        if silence is not None:  # its own rule: the score stays the novelty of the pattern
            verdict = silence
        self._learn(value, hour)
        return Judgement(score, verdict)

    def _band(self) -> Band:
        c = self.config
        expected = statistics.median(self.recent)
        sigma = _MAD_TO_SIGMA * statistics.median(abs(v - expected) for v in self.recent)
        pad = 0.0
        if self.counts:
            sigma = max(sigma, math.sqrt(max(statistics.fmean(self.recent), 1.0)))
            pad = 2.0
        sigma = max(sigma, 1e-3 * abs(expected), 1e-9)
        half = c.threshold_sigmas * sigma + pad
        lower = expected - half
        return Band(expected, max(0.0, lower) if self.counts else lower, expected + half, sigma)

    def _poisson_like(self) -> bool:
        """Integer counts whose noise looks Poisson (the step variance near the level), or so few per
        window that Poisson noise is all there is."""
        if not self.counts:
            return False
        phi = self.dispersion / max(self.level, 0.1)
        return self.level < 5 or 0.5 <= phi <= 2.0

    def _poisson_rare(self, value: float, hour: int, day_known: bool) -> bool:
        mean = statistics.fmean(self.recent)
        levels = [mean, self.level]
        profile = self.by_hour[hour]
        if day_known and profile is not None:
            levels.append(profile)
        if value > mean:
            return poisson_upper_tail(value, max(max(levels), 0.1)) < self.config.count_tail_p
        rate = min(levels)
        return rate > 0 and poisson_lower_tail(value, rate) < self.config.count_tail_p

    def _spike_or_drop(self, value: float, band: Band, score: float) -> Verdict:
        outside = not band.lower <= value <= band.upper
        where = (
            f"band {band.lower:.3g}–{band.upper:.3g}"
            if outside
            else f"inside the band {band.lower:.3g}–{band.upper:.3g}, but in a pattern this series has not shown"
        )
        if value > band.expected:
            ratio = f", {value / band.expected:.1f}× normal" if band.expected > 0 else ""
            text = f"{value:g} is above the expected {band.expected:.3g} ({where}{ratio}; anomaly score {score:.2f})"
            return Verdict("spike", "up", value, band, score, text)
        text = f"{value:g} is below the expected {band.expected:.3g} ({where}; anomaly score {score:.2f})"
        return Verdict("drop", "down", value, band, score, text)

    def _silence(self, value: float, hour: int, day_known: bool) -> Verdict | None:
        c = self.config
        if not self.counts or value != 0:
            return None
        if self.zero_run == 0:
            self.run_level = self._steady_level()
            self.run_zero_share = self.zero_share
        runs = self.zero_run + 1
        expected = self.run_level
        if self.silence_said:  # the run goes on: still silent, the incident holds
            return self._silence_verdict(runs, expected)
        if day_known:  # a day of history: this hour's own level decides
            profile = self.by_hour[hour]
            if profile is None or profile < c.silence_min_expected / 2:
                return None
            expected = min(expected, profile)
        p = math.exp(-expected * runs)
        if (
            self.n - self.zero_run < c.min_history
            or expected < c.silence_min_expected
            or self.run_zero_share**3 >= 1e-3  # empty windows were common before: not news
            or p > c.silence_p
        ):
            return None
        self.silence_said = True  # every further empty window of this run is silence too
        self.run_level = expected
        return self._silence_verdict(runs, expected)

    def _silence_verdict(self, runs: int, expected: float) -> Verdict:
        c = self.config
        p = math.exp(-expected * runs)
        sigma = math.sqrt(expected)
        band = Band(
            expected, max(0.0, expected - c.threshold_sigmas * sigma), expected + c.threshold_sigmas * sigma, sigma
        )
        return Verdict(
            "silence",
            "down",
            0.0,
            band,
            1.0 - p,
            f"no events for {runs} windows in a row where about {expected:.3g} per window were expected "
            f"(band {band.lower:.3g}–{band.upper:.3g}; a source at that rate is this quiet with probability {p:.1g})",
        )

    def _steady_level(self) -> float:
        """The level a run of empty windows is tested against: the mean so far while the series is
        young, then the lower of the recent mean and the slow level (a burst is not a steady rate)."""
        if not self.recent:
            return 0.0
        if self.n <= 200:
            return self.mean_all
        return min(statistics.fmean(self.recent), self.level)

    def _learn(self, value: float, hour: int) -> None:
        c = self.config
        if value == 0:
            self.zero_run += 1
        else:
            self.zero_run = 0
            self.silence_said = False
        self.n += 1
        if self.silence_said:
            return  # a silent source teaches nothing about its normal level
        profile = self.by_hour[hour]
        self.by_hour[hour] = value if profile is None else profile + 0.1 * (value - profile)
        self.mean_all += (value - self.mean_all) / self.n
        self.level = value if self.n == 1 else self.level + 0.01 * (value - self.level)
        a = max(1.0 / self.n, 0.01)
        self.zero_share += (float(value == 0) - self.zero_share) * a
        if self.recent:
            self.dispersion += (0.5 * (value - self.recent[-1]) ** 2 - self.dispersion) * a
        self.recent.append(value)
        del self.recent[: -c.recent_windows]
