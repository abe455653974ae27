from __future__ import annotations

from datetime import UTC, datetime

from reflex_metrics.windowing import close_boundary, window_start


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_window_start_is_epoch_aligned() -> None:
    assert window_start(at("2026-01-01T10:05:59.999"), 60) == at("2026-01-01T10:05:00")
    assert window_start(at("2026-01-01T10:05:00"), 60) == at("2026-01-01T10:05:00")
    assert window_start(at("2026-01-01T10:07:30"), 300) == at("2026-01-01T10:05:00")


def test_a_window_closes_lateness_after_its_end_by_wall_clock() -> None:
    # [10:05, 10:06) may close at 10:06:10 with 10 s lateness, not at 10:06:09.
    assert close_boundary(at("2026-01-01T10:06:09"), None, 60, 10) == at("2026-01-01T10:05:00")
    assert close_boundary(at("2026-01-01T10:06:10"), None, 60, 10) == at("2026-01-01T10:06:00")


def test_event_time_ahead_of_the_wall_clock_closes_windows_too() -> None:
    now = at("2026-01-01T10:06:00")
    assert close_boundary(now, at("2026-01-01T10:09:30"), 60, 10) == at("2026-01-01T10:09:00")
    assert close_boundary(now, at("2026-01-01T09:00:00"), 60, 10) == at("2026-01-01T10:05:00")
