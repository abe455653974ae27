from __future__ import annotations

from datetime import UTC, datetime

from reflex_metrics.tally import Tally


def epoch_s(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def windows_of(tally: Tally, event: int) -> tuple[tuple[str, str, int], tuple[str, str, int]]:
    type_window, all_window = tally.pairs[tally.event_pairs[event] - 1]
    return tally.windows[type_window - 1], tally.windows[all_window - 1]


def test_each_event_lands_in_its_types_window_and_its_sources_star_window() -> None:
    tally = Tally(60)
    tally.add("e1", "gh", "push", epoch_s("2026-01-01T10:05:59.999"))
    tally.add("e2", "gh", "issues.opened", epoch_s("2026-01-01T10:05:00"))
    tally.add("e3", "gh", "push", epoch_s("2026-01-01T10:06:00"))
    minute = int(epoch_s("2026-01-01T10:05:00"))
    assert windows_of(tally, 0) == (("gh", "push", minute), ("gh", "*", minute))
    assert windows_of(tally, 1) == (("gh", "issues.opened", minute), ("gh", "*", minute))
    assert windows_of(tally, 2) == (("gh", "push", minute + 60), ("gh", "*", minute + 60))
    assert tally.event_ids == ["e1", "e2", "e3"] and len(tally) == 3
    # Windows are listed once each, however many events share them.
    assert len(tally.windows) == len(set(tally.windows)) == 5


def test_series_span_the_first_and_last_window_of_the_batch() -> None:
    tally = Tally(300)
    for i, at in enumerate(("2026-01-01T10:07:30", "2026-01-01T10:00:00", "2026-01-01T10:12:00")):
        tally.add(f"e{i}", "gh", "push", epoch_s(at))
    first, last = int(epoch_s("2026-01-01T10:00:00")), int(epoch_s("2026-01-01T10:10:00"))
    assert sorted(tally.series()) == [("gh", "*", first, last), ("gh", "push", first, last)]
