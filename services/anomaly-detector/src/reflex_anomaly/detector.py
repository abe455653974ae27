"""Spikes, drops and silence in one series of per-window values, judged window by window. Pure.

`SeriesDetector.observe(at_s, window_s, value)` sees each window once, in order, with no look-ahead,
in O(window) time, and returns a `Judgement`: an anomaly score in [0, 1] and, when the window is
anomalous, a `Verdict` (kind, direction, observed, expected, band, one-sentence explanation). Its state
is JSON (`state()` / `SeriesDetector(config, state)`), persisted per series by the handler.

The method (docs/detection.md says why and what each setting trades):
- expected value: the better, by recent error, of a level baseline (median of the last few windows) and
  a seasonal one (the same time of day, once a day of history exists);
- spread: the typical error of that baseline on this series (median absolute residual), floored by the
  series' own scale — and, for a series of integer counts, by the Poisson spread √expected;
- anomaly score: how unusual the recent error is against this series' own recent errors (a tail
  probability, "anomaly likelihood");
- a verdict needs the score over the alert threshold and the value outside the band (and, for counts,
  a Poisson tail under `count_tail_p`); silence is a run of zeros that a Poisson source at the expected
  rate would produce with probability under `silence_p`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from reflex_anomaly.window import SlidingWindow

AnomalyKind = Literal["spike", "drop", "silence"]
Direction = Literal["up", "down"]

_MAD_TO_SIGMA = 1.4826
_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    # No verdict before this many windows of history.
    min_history: int = 10
    # Band half-width reported with a verdict, in robust standard deviations.
    threshold_sigmas: float = 4.0
    # A run of zeros is silence only where the baseline expects at least this many events per window.
    silence_min_expected: float = 3.0
    # ... and where a Poisson source at that rate would give such a run with probability below this.
    silence_p: float = 1e-3
    # Anomaly score at or above which a window is anomalous.
    alert_score: float = 0.9999
    # Counts: a spike or drop must also be this unlikely for a Poisson source at the expected rate.
    count_tail_p: float = 1e-6
    # Windows of the level baseline, of the residuals that set the spread, of the scores' history.
    level_windows: int = 10
    spread_windows: int = 600
    # Windows of the mean rate that a run of zeros is tested against (Poisson: the mean is the estimate).
    rate_windows: int = 60
    score_windows: int = 3000
    # The longest season remembered, in windows (a day at WINDOW_S=60 is 1440 windows).
    max_season_windows: int = 1440


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


def _normal_upper(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


class SeriesDetector:
    """The judge of one series. Feed it every window in order."""

    def __init__(self, config: DetectorConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        s = state if state and state.get("v") == _STATE_VERSION else {}
        c = config
        self.n: int = s.get("n", 0)
        self.counts: bool = s.get("counts", True)
        self.zero_run: int = s.get("zero_run", 0)
        self.run_rate: float = s.get("run_rate", 0.0)
        self.err_level: float = s.get("err_level", 0.0)
        self.err_season: float = s.get("err_season", 0.0)
        self.season_len: int = s.get("season_len", 0)
        self.level = SlidingWindow(c.level_windows, s.get("level", ()))
        self.res_level = SlidingWindow(c.spread_windows, s.get("res_level", ()))
        self.res_season = SlidingWindow(c.spread_windows, s.get("res_season", ()))
        self.scores = SlidingWindow(c.score_windows, s.get("scores", ()))
        self.magnitude = SlidingWindow(c.spread_windows, s.get("magnitude", ()))
        self.rate = SlidingWindow(c.rate_windows, s.get("rate", ()))
        self.season = SlidingWindow(max(c.max_season_windows + 3, 3), s.get("season", ()))
        self.short: list[float] = list(s.get("short", ()))
        self._expected = 0.0

    def state(self) -> dict[str, Any]:
        return {
            "v": _STATE_VERSION,
            "n": self.n,
            "counts": self.counts,
            "zero_run": self.zero_run,
            "run_rate": self.run_rate,
            "err_level": self.err_level,
            "err_season": self.err_season,
            "season_len": self.season_len,
            "level": self.level.values(),
            "res_level": self.res_level.values(),
            "res_season": self.res_season.values(),
            "scores": self.scores.values(),
            "magnitude": self.magnitude.values(),
            "rate": self.rate.values(),
            "season": self.season.values(),
            "short": self.short,
        }

    def _seasonal_expected(self, window_s: float) -> float | None:
        period = round(86_400 / window_s) if window_s > 0 else 0
        if period < 4 or period > self.config.max_season_windows:
            return None
        if period != self.season_len:
            self.season_len = period
        if len(self.season) < period + 2:
            return None
        around = sorted(self.season.last(period - 1 + k) for k in range(-2, 3) if period - 1 + k < len(self.season))
        return around[len(around) // 2]

    def observe(self, at_s: float, window_s: float, value: float) -> Judgement:
        if self.counts and (value < 0 or value != int(value)):
            self.counts = False
        judgement = Judgement(0.0, None)
        if len(self.level) >= 3:
            judgement = self._judge(window_s, value)
        self._learn(value)
        return judgement

    def _judge(self, window_s: float, value: float) -> Judgement:
        c = self.config
        level = self.level.median()
        seasonal = self._seasonal_expected(window_s)
        use_season = seasonal is not None and len(self.res_season) >= 50 and self.err_season < self.err_level
        expected = seasonal if use_season and seasonal is not None else level
        residuals = self.res_season if use_season else self.res_level
        typical = _MAD_TO_SIGMA * residuals.median() if len(residuals) >= 5 else 0.0
        scale = self.magnitude.median() if len(self.magnitude) else abs(expected)
        floor = 1e-3 * (abs(scale) + abs(expected)) + 1e-12
        if self.counts:
            floor = max(floor, math.sqrt(max(expected, 0.0)), 0.5)
        sigma = max(typical, floor)
        # the residuals of both baselines, for the spread and for choosing between them
        r_level = abs(value - level)
        self.res_level.push(r_level)
        self.err_level += 0.02 * (r_level - self.err_level)
        if seasonal is not None:
            r_season = abs(value - seasonal)
            self.res_season.push(r_season)
            self.err_season += 0.02 * (r_season - self.err_season)
        z = abs(value - expected) / sigma
        raw = math.log1p(z)
        self.short.append(raw)
        del self.short[:-3]
        recent = sum(self.short) / len(self.short)
        score = 0.0
        if len(self.scores) >= 50:
            spread = self.scores.std() or 1e-6
            score = 1.0 - _normal_upper((recent - self.scores.mean()) / spread)
        self.scores.push(raw)
        half = c.threshold_sigmas * sigma
        band = Band(expected, expected - half, expected + half, sigma)
        if self.counts:
            band = Band(expected, max(0.0, band.lower), band.upper, sigma)
        # a run of zeros is tested against the expected rate, but never above the long-run mean rate
        self._expected = min(expected, self.rate.mean()) if self.counts else expected
        verdict = self._verdict(value, band, score)
        return Judgement(score, verdict)

    def _verdict(self, value: float, band: Band, score: float) -> Verdict | None:
        c = self.config
        if self.n < c.min_history:
            return None
        if self.counts and value == 0:
            rate = self.run_rate if self.zero_run else self._expected
            runs = self.zero_run + 1
            if rate >= c.silence_min_expected and math.exp(-rate * runs) <= c.silence_p:
                return Verdict(
                    "silence",
                    "down",
                    value,
                    band,
                    max(score, 1.0 - math.exp(-rate * runs)),
                    f"no events for {runs} windows in a row where about {rate:.3g} per window were expected "
                    f"(band {band.lower:.3g}–{band.upper:.3g}); a source at that rate would be this quiet "
                    f"with probability {math.exp(-rate * runs):.1g}",
                )
            return None
        if score < c.alert_score or band.lower <= value <= band.upper:
            return None
        up = value > band.upper
        if self.counts:
            tail = poisson_upper_tail(value, band.expected) if up else poisson_lower_tail(value, band.expected)
            if tail > c.count_tail_p:
                return None
        if up:
            ratio = f", {value / band.expected:.1f}× normal" if band.expected > 0 else ""
            return Verdict(
                "spike",
                "up",
                value,
                band,
                score,
                f"{value:g} is above the expected {band.expected:.3g} (band {band.lower:.3g}–{band.upper:.3g}){ratio}",
            )
        return Verdict(
            "drop",
            "down",
            value,
            band,
            score,
            f"{value:g} is below the expected {band.expected:.3g} (band {band.lower:.3g}–{band.upper:.3g})",
        )

    def _learn(self, value: float) -> None:
        if self.counts and value == 0:
            if self.zero_run == 0:
                self.run_rate = self._expected
            self.zero_run += 1
        else:
            self.zero_run = 0
        self.level.push(value)
        self.season.push(value)
        self.magnitude.push(abs(value))
        self.rate.push(value)
        self.n += 1
