"""The NAB scorer, proved before it is trusted: small cases worked by hand from NAB's description, then
the published relativeEntropy results re-scored to the published figures."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from reflex_nab.__main__ import reproduce
from reflex_nab.corpus import Corpus
from reflex_nab.scorer import Profile, normalised, points_of, probationary_rows, raw_score, scaled_sigmoid, sweep

STANDARD = Profile("standard", 1.0, 0.11, 1.0)
NAB = Path(__file__).resolve().parents[3] / ".." / "shared" / "nab"
T0 = datetime(2020, 1, 1)


def stamps(n: int) -> list[datetime]:
    return [T0 + timedelta(minutes=5 * i) for i in range(n)]


def test_scaled_sigmoid_and_probation() -> None:
    assert scaled_sigmoid(0.0) == 0.0
    assert math.isclose(scaled_sigmoid(-1.0), 2 / (1 + math.exp(-5)) - 1)
    assert scaled_sigmoid(3.5) == -1.0
    assert probationary_rows(1000) == 150 and probationary_rows(100_000) == 750


def test_the_earliest_detection_in_a_window_earns_it_and_later_ones_cost_nothing() -> None:
    ts = stamps(1000)
    window = [(ts[500], ts[599])]  # 100 rows
    scores = [0.0] * 1000
    scores[500] = scores[550] = scores[599] = 1.0
    points = points_of("f", ts, scores, window)
    assert math.isclose(raw_score(points, 1, STANDARD, 0.5), 1.0)  # detected at the window's first row
    scores = [0.0] * 1000
    scores[549] = 1.0  # half-way: σ(−0.51)/σ(−1)
    points = points_of("f", ts, scores, window)
    assert math.isclose(raw_score(points, 1, STANDARD, 0.5), scaled_sigmoid(-51 / 100) / scaled_sigmoid(-1.0))


def test_false_positives_cost_by_their_distance_after_a_window_and_fully_before_any() -> None:
    ts = stamps(1000)
    window = [(ts[500], ts[599])]
    scores = [0.0] * 1000
    scores[300] = 1.0  # before the first window: −A_FP
    scores[620] = 1.0  # 21 rows after: σ(21/99)·A_FP
    points = points_of("f", ts, scores, window)
    expected = -0.11 + 0.11 * scaled_sigmoid(21 / 99) - 1.0  # and the window is missed: −A_FN
    assert math.isclose(raw_score(points, 1, STANDARD, 0.5), expected)


def test_rows_in_the_probationary_period_are_never_scored() -> None:
    ts = stamps(1000)
    scores = [0.0] * 1000
    scores[10] = 1.0
    assert raw_score(points_of("f", ts, scores, []), 0, STANDARD, 0.5) == 0.0


def test_the_sweep_finds_the_threshold_that_scores_best_and_normalises_between_null_and_perfect() -> None:
    ts = stamps(1000)
    window = [(ts[500], ts[599])]
    scores = [0.0] * 1000
    scores[500] = 0.6  # the true detection
    for i in (200, 300, 400):
        scores[i] = 0.9  # louder false alarms
    points = points_of("f", ts, scores, window)
    best = sweep(points, 1, STANDARD)
    assert best.threshold == 0.6 and math.isclose(best.raw, 1.0 - 3 * 0.11)
    assert normalised(-1.0, 1, STANDARD) == 0.0 and normalised(1.0, 1, STANDARD) == 100.0


@pytest.mark.skipif(not NAB.is_dir(), reason=f"NAB corpus not found at {NAB}")
def test_the_published_relative_entropy_scores_are_reproduced_to_two_decimals() -> None:
    corpus = Corpus(NAB)
    ours = reproduce(corpus, corpus.series())
    assert {k: round(v, 2) for k, v in ours.items()} == {
        "standard": 54.64,
        "reward_low_FP_rate": 47.60,
        "reward_low_FN_rate": 58.84,
    }
