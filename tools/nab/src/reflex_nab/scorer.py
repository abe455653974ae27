"""NAB scoring, pure: per-row anomaly scores and labelled windows in, normalised scores out.

Written from NAB v1.1's description of itself (shared/nab/README.md):

- the first min(⌊0.15·N⌋, 750) rows of a file are probationary and never scored;
- a detection (score ≥ θ) at row i inside a window [L, R] of W rows is worth σ(−(R − i + 1)/W)·A_TP/σ(−1),
  and only a window's best (= earliest) detection counts; a window without one costs −A_FN;
- a detection outside every window is a false positive worth σ(|R' − i|/(W' − 1))·A_FP after a window
  ending at row R' (σ(y) = −1 past y = 3), and −A_FP before the first window;
- one corpus-wide θ per profile is chosen to maximise the sum over files, and the sum is normalised
  between the detector that never fires (0) and the perfect one (100).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


def scaled_sigmoid(y: float) -> float:
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


def probationary_rows(n_rows: int) -> int:
    return min(math.floor(0.15 * n_rows), 750)


@dataclass(frozen=True, slots=True)
class Point:
    """One scored row: its anomaly score, the window it lies in (or None) and its unweighted worth
    (σ of its position: positive inside a window, the false-positive penalty shape outside)."""

    score: float
    window: tuple[str, int] | None
    worth: float


def points_of(
    name: str, timestamps: Sequence[datetime], scores: Sequence[float], windows: Sequence[tuple[datetime, datetime]]
) -> list[Point]:
    """The scorable rows of one file (probation dropped), each placed relative to the windows."""
    n = len(timestamps)
    bounds = []  # (first row, last row) of each window, in rows
    for start, end in sorted(windows):
        first = bisect.bisect_left(timestamps, start)
        last = bisect.bisect_right(timestamps, end) - 1
        if last >= first:
            bounds.append((first, last))
    probation = probationary_rows(n)
    points: list[Point] = []
    k = 0  # the next window not yet passed
    for i in range(n):
        while k < len(bounds) and i > bounds[k][1]:
            k += 1
        window: tuple[str, int] | None = None
        if k < len(bounds) and bounds[k][0] <= i:
            first, last = bounds[k]
            worth = scaled_sigmoid(-(last - i + 1) / (last - first + 1))
            window = (name, k)
        elif k > 0:
            first, last = bounds[k - 1]
            width = last - first + 1
            worth = scaled_sigmoid(abs(last - i) / (width - 1)) if width > 1 else -1.0
        else:
            worth = -1.0
        if i >= probation:
            points.append(Point(scores[i], window, worth))
    return points


@dataclass(frozen=True, slots=True)
class Sweep:
    threshold: float
    raw: float


def sweep(points: Iterable[Point], n_windows: int, profile: Profile) -> Sweep:
    """The threshold that maximises the raw score over these points, and that score. A threshold θ
    detects every point with score ≥ θ; θ above every score detects nothing."""
    ordered = sorted(points, key=lambda p: p.score, reverse=True)
    fp = 0.0
    tp: dict[tuple[str, int], float] = {}
    tp_sum = 0.0
    best = Sweep(math.inf, -profile.fn_weight * n_windows)
    i = 0
    while i < len(ordered):
        threshold = ordered[i].score
        while i < len(ordered) and ordered[i].score == threshold:
            p = ordered[i]
            if p.window is None:
                fp += p.worth * profile.fp_weight
            else:
                value = p.worth * profile.tp_weight / _MAX_TP
                before = tp.get(p.window)
                if before is None or value > before:
                    tp_sum += value - (before or 0.0)
                    tp[p.window] = value
            i += 1
        raw = fp + tp_sum - profile.fn_weight * (n_windows - len(tp))
        if raw > best.raw:
            best = Sweep(threshold, raw)
    return best


def raw_score(points: Iterable[Point], n_windows: int, profile: Profile, threshold: float) -> float:
    """The raw score of these points at a fixed threshold."""
    fp = 0.0
    tp: dict[tuple[str, int], float] = {}
    for p in points:
        if p.score < threshold:
            continue
        if p.window is None:
            fp += p.worth * profile.fp_weight
        else:
            tp[p.window] = max(tp.get(p.window, -math.inf), p.worth * profile.tp_weight / _MAX_TP)
    return fp + sum(tp.values()) - profile.fn_weight * (n_windows - len(tp))


def normalised(raw: float, n_windows: int, profile: Profile) -> float:
    """100 × (S − S_null) / (S_perfect − S_null)."""
    null = -profile.fn_weight * n_windows
    perfect = profile.tp_weight * n_windows
    return 100.0 * (raw - null) / (perfect - null)
