"""Window arithmetic. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def window_start(at: datetime, window_s: int) -> datetime:
    """The start of the window `at` falls in; windows are aligned to the Unix epoch."""
    epoch_s = int(at.timestamp() // 1)
    return datetime.fromtimestamp(epoch_s - epoch_s % window_s, tz=UTC)


def close_boundary(now: datetime, event_watermark: datetime | None, window_s: int, lateness_s: float) -> datetime:
    """Every window starting before the returned instant may close: it ended at least lateness_s
    before the wall clock, or before the newest event time seen, whichever is later.

    (A window [s, s + w) has ended by t when s + w <= t, i.e. exactly when s < window_start(t).)"""
    newest = max(now, event_watermark) if event_watermark is not None else now
    return window_start(newest - timedelta(seconds=lateness_s), window_s)
