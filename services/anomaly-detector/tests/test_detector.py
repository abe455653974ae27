from __future__ import annotations

from reflex_anomaly.detector import DetectorConfig, band_of, evaluate

CONFIG = DetectorConfig(min_history=5, threshold_sigmas=4.0, silence_min_expected=3.0)
STEADY = [100, 98, 103, 101, 99, 97, 102, 100, 104, 96]


def test_no_verdict_until_the_history_is_long_enough() -> None:
    assert evaluate([100, 100, 100, 100], 10_000, CONFIG, 60) is None


def test_normal_values_pass() -> None:
    for value in (85, 100, 118):
        assert evaluate(STEADY, value, CONFIG, 60) is None


def test_spike_is_flagged_with_its_band_and_explanation() -> None:
    verdict = evaluate(STEADY, 300, CONFIG, 60)
    assert verdict is not None and verdict.kind == "spike"
    assert verdict.band.expected == 100
    assert verdict.band.upper < 300
    assert "3.0× normal" in verdict.explanation and "60s window" in verdict.explanation


def test_drop_is_flagged() -> None:
    verdict = evaluate(STEADY, 20, CONFIG, 60)
    assert verdict is not None and verdict.kind == "drop"
    assert verdict.band.lower > 20


def test_silence_is_a_zero_where_events_are_expected() -> None:
    verdict = evaluate(STEADY, 0, CONFIG, 60)
    assert verdict is not None and verdict.kind == "silence"


def test_a_quiet_series_does_not_flag_poisson_noise() -> None:
    quiet = [1, 0, 2, 1, 0, 1, 3, 0, 1, 2]
    assert all(evaluate(quiet, v, CONFIG, 60) is None for v in range(0, 6))
    verdict = evaluate(quiet, 0, CONFIG, 60)
    assert verdict is None  # a zero in a series that expects ~1 is not silence


def test_band_uses_the_poisson_floor_when_the_history_is_flat() -> None:
    band = band_of([100] * 10, 4.0)
    assert band.sigma == 10.0  # sqrt(100), not MAD = 0
    assert (band.lower, band.upper) == (60.0, 140.0)
