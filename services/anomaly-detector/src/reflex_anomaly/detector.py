"""Spikes, drops and silence in per-window counts: a robust band around the recent median. Pure.

The baseline is the median of the last N windows; the spread is the larger of the MAD (scaled to a
standard deviation) and the Poisson spread sqrt(median) — event counts are Poisson-like, so a quiet
series must not flag every +2. A count above the band is a spike, below it a drop, and 0 where
the baseline expects events is silence.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

AnomalyKind = Literal["spike", "drop", "silence"]

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    min_history: int = 10
    threshold_sigmas: float = 4.0
    silence_min_expected: float = 3.0


@dataclass(frozen=True, slots=True)
class Band:
    expected: float
    lower: float
    upper: float
    sigma: float


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: AnomalyKind
    observed: int
    band: Band
    explanation: str


def band_of(history: Sequence[int], threshold_sigmas: float) -> Band:
    median = float(statistics.median(history))
    mad = statistics.median(abs(x - median) for x in history)
    sigma = max(_MAD_TO_SIGMA * mad, math.sqrt(median), 1.0)
    half = threshold_sigmas * sigma
    return Band(expected=median, lower=max(0.0, median - half), upper=median + half, sigma=sigma)


def evaluate(history: Sequence[int], observed: int, config: DetectorConfig, window_s: int) -> Verdict | None:
    """The anomaly of `observed` against `history` (oldest first), or None when it is normal or the
    history is too short to tell."""
    if len(history) < config.min_history:
        return None
    band = band_of(history, config.threshold_sigmas)
    basis = (
        f"expected {band.expected:g} per {window_s}s window (band {band.lower:.1f}–{band.upper:.1f}: "
        f"median of the last {len(history)} windows ± {config.threshold_sigmas:g} robust σ of {band.sigma:.2f})"
    )
    if observed == 0 and band.expected >= config.silence_min_expected:
        return Verdict("silence", observed, band, f"no events; {basis}")
    if observed > band.upper:
        ratio = observed / band.expected if band.expected else math.inf
        return Verdict("spike", observed, band, f"{observed} events, {ratio:.1f}× normal; {basis}")
    if observed < band.lower:
        return Verdict("drop", observed, band, f"{observed} events, below the band; {basis}")
    return None
