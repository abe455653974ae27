"""The detector as on-call meets it, on the pure code: silence of a steady source pages quickly, steady
and low-rate sources never page, night-time quiet in a daily pattern is not silence, and every verdict
says what it saw against what was expected."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import UTC, datetime

import pytest

from reflex_anomaly.detector import (
    DetectorConfig,
    Judgement,
    SeriesDetector,
    poisson_lower_tail,
    poisson_upper_tail,
)
from reflex_anomaly.incidents import IncidentBook
from reflex_anomaly.settings import AnomalySettings

WINDOW_S = 60
T0 = 1_780_000_000  # a window start, epoch seconds


def defaults() -> DetectorConfig:
    return AnomalySettings.model_construct().detector_config()


def run(counts: Iterable[float], window_s: int = WINDOW_S, config: DetectorConfig | None = None) -> list[Judgement]:
    detector = SeriesDetector(config or defaults())
    return [detector.observe(T0 + i * window_s, window_s, c) for i, c in enumerate(counts)]


def pages(judgements: list[Judgement], window_s: int = WINDOW_S) -> list[tuple[int, str]]:
    """(window index, kind) of every incident the service would open."""
    book = IncidentBook(AnomalySettings.model_construct().resolve_after_windows)
    opened = []
    for i, j in enumerate(judgements):
        at = datetime.fromtimestamp(T0 + i * window_s, UTC)
        for t in book.observe(("s", "*"), at, window_s, j.verdict):
            if t.kind == "opened":
                opened.append((i, t.incident.kind))
    return opened


def poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method for small rates, a rounded normal for large ones."""
    if lam > 200:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= threshold:
            return k
        k += 1


@pytest.mark.parametrize("rate", [3, 5, 20, 100, 1000])
def test_a_steady_source_that_goes_silent_pages_by_its_third_empty_window(rate: int) -> None:
    rng = random.Random(rate)
    # "steady" at 3 per window: 3 every window (a cron job); above that, Poisson at the rate
    history = [3 if rate == 3 else poisson(rng, rate) for _ in range(30)]
    judgements = run([*history, 0, 0, 0])
    opened = pages(judgements)
    assert opened and opened[0][1] == "silence" and 30 <= opened[0][0] <= 32, opened
    assert all(kind == "silence" for _, kind in opened)


@pytest.mark.parametrize("rate", [5, 20, 100, 1000, 50_000])
def test_a_steady_poisson_source_never_pages(rate: int) -> None:
    rng = random.Random(rate)
    assert pages(run(poisson(rng, rate) for _ in range(5000))) == []


@pytest.mark.parametrize("rate", [0.2, 0.5, 1.0, 2.0])
def test_a_low_rate_poisson_source_never_pages_on_silence_or_noise(rate: float) -> None:
    rng = random.Random(int(rate * 10))
    judgements = run(poisson(rng, rate) for _ in range(20_000))
    assert pages(judgements) == []


def test_night_time_quiet_in_a_daily_pattern_is_not_silence_once_a_day_is_known() -> None:
    window_s = 300  # 288 windows a day
    rng = random.Random(7)

    def rate(i: int) -> float:
        hour = datetime.fromtimestamp(T0 + i * window_s, UTC).hour
        return 0.0 if hour < 6 else 40.0  # nothing at all between midnight and 6 am

    days = 5
    counts = [poisson(rng, rate(i)) for i in range(288 * days)]
    opened = pages(run(counts, window_s), window_s)
    assert [p for p in opened if p[0] >= 288 * 2] == []  # after a day of history and a second to learn it


def test_a_spike_and_a_drop_are_judged_with_direction_expected_band_and_a_sentence() -> None:
    rng = random.Random(1)
    base = [poisson(rng, 100) for _ in range(200)]
    spike = run([*base, 400])[-1].verdict
    assert spike is not None and spike.kind == "spike" and spike.direction == "up"
    assert spike.observed == 400 and spike.band.lower < spike.band.expected < spike.band.upper < 400
    assert 80 < spike.band.expected < 120
    drop = run([*base, 20])[-1].verdict
    assert drop is not None and drop.kind == "drop" and drop.direction == "down"
    assert drop.observed == 20 < drop.band.lower
    for verdict in (spike, drop):
        text = verdict.explanation
        assert text.count(". ") == 0 and str(int(verdict.observed)) in text and "expected" in text


def test_fractional_and_negative_series_are_judged_on_their_own_scale() -> None:
    rng = random.Random(3)
    base = [rng.gauss(-0.002, 0.0001) for _ in range(500)]
    assert pages(run(base)) == []
    verdict = run([*base, 0.01])[-1].verdict
    assert verdict is not None and verdict.kind == "spike"


def test_scores_are_probabilities_and_the_state_round_trips() -> None:
    rng = random.Random(5)
    values = [poisson(rng, 30) for _ in range(400)] + [300] + [poisson(rng, 30) for _ in range(50)]
    config = defaults()
    whole = SeriesDetector(config)
    expected = [whole.observe(T0 + i * 60, 60, v) for i, v in enumerate(values)]
    assert all(0.0 <= j.score <= 1.0 for j in expected)
    # stopped and restarted from its JSON state every 37 windows: the same judgements
    import json

    state = None
    resumed = []
    for i, v in enumerate(values):
        if i % 37 == 0:
            detector = SeriesDetector(config, json.loads(json.dumps(state)) if state else None)
        resumed.append(detector.observe(T0 + i * 60, 60, v))
        state = detector.state()
    assert resumed == expected


def test_poisson_tails() -> None:
    assert poisson_upper_tail(0, 3) == 1.0
    assert math.isclose(poisson_lower_tail(0, 3), math.exp(-3))
    assert math.isclose(poisson_upper_tail(5, 0.2), 2.2582e-6, rel_tol=1e-3)
    assert math.isclose(poisson_lower_tail(800, 900), 3.689e-4, rel_tol=1e-2)
    assert math.isclose(poisson_upper_tail(4, 3) + poisson_lower_tail(3, 3), 1.0)
