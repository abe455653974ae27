"""The alert lifecycle, point by point, without a database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from reflex_anomaly.incidents import IncidentBook, Transition

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
SERIES = ("shop", "*")


def at(i: int) -> datetime:
    return T0 + timedelta(minutes=i)


@dataclass(frozen=True)
class Band:
    expected: float = 100.0
    lower: float = 60.0
    upper: float = 140.0


@dataclass(frozen=True)
class Verdict:
    """What the book needs of any detector's verdict (incidents.VerdictLike), and nothing more."""

    kind: str
    observed: float
    band: Band
    explanation: str


def verdict(kind: str, observed: float) -> Verdict:
    return Verdict(kind, observed, Band(), f"{kind} of {observed:g}")


def feed(book: IncidentBook, values: list[Verdict | None], start: int = 0) -> list[list[Transition]]:
    return [book.observe(SERIES, at(start + i), 60, v) for i, v in enumerate(values)]


def alerts(steps: list[list[Transition]]) -> list[int]:
    return [int(any(t.alert for t in step)) for step in steps]


def test_a_verdict_opens_one_incident_and_only_that_window_alerts() -> None:
    book = IncidentBook(resolve_after_windows=3)
    steps = feed(book, [None, verdict("silence", 0), verdict("silence", 0), verdict("silence", 0)])
    assert alerts(steps) == [0, 1, 0, 0]
    assert [t.kind for t in steps[1]] == ["opened"] and [t.kind for t in steps[2]] == ["held"]
    (incident,) = book.open_incidents()
    assert incident.key == ("shop", "*", "silence")
    assert (incident.opened_at, incident.last_anomalous_at, incident.anomalous_windows) == (at(1), at(3), 3)


def test_kinds_are_separate_incidents_of_one_series() -> None:
    book = IncidentBook(resolve_after_windows=3)
    steps = feed(book, [verdict("spike", 300), verdict("drop", 20), verdict("spike", 500)])
    assert alerts(steps) == [1, 1, 0]
    assert sorted(i.kind for i in book.open_incidents(SERIES)) == ["drop", "spike"]
    assert book.open_incidents(("other", "*")) == []


def test_it_resolves_after_n_windows_back_in_band_at_the_end_of_the_nth() -> None:
    book = IncidentBook(resolve_after_windows=3)
    steps = feed(book, [verdict("spike", 300), None, None, verdict("spike", 400), None, None, None])
    # The spike at window 3 restarts the count: three in-band windows after it, not after window 0.
    assert [[t.kind for t in s] for s in steps] == [["opened"], [], [], ["held"], [], [], ["resolved"]]
    resolved = steps[-1][0].incident
    assert resolved.resolution == "recovered" and resolved.resolved_at == at(7)
    assert resolved.observed == 400 and resolved.explanation == "spike of 400"  # the worst window
    assert book.open_incidents() == []
    # A new anomaly after the resolution is a new incident, and pages again.
    assert alerts(feed(book, [verdict("spike", 300)], start=7)) == [1]


def test_a_verdict_of_another_kind_counts_as_in_band_for_the_open_one() -> None:
    book = IncidentBook(resolve_after_windows=2)
    steps = feed(book, [verdict("silence", 0), verdict("drop", 20), verdict("drop", 20)])
    assert [[(t.kind, t.incident.kind) for t in s] for s in steps] == [
        [("opened", "silence")],
        [("opened", "drop")],
        [("resolved", "silence"), ("held", "drop")],
    ]


def test_a_repeated_window_changes_nothing() -> None:
    book = IncidentBook(resolve_after_windows=2)
    feed(book, [verdict("spike", 300), None])
    assert book.observe(SERIES, at(1), 60, None) == []
    assert book.observe(SERIES, at(0), 60, verdict("spike", 300)) == []
    (incident,) = book.open_incidents()
    assert incident.in_band_windows == 1


def test_a_revision_that_retracts_the_opening_window_resolves_it_as_retracted() -> None:
    book = IncidentBook(resolve_after_windows=5)
    feed(book, [verdict("spike", 400), None, None])
    (t,) = book.revise(SERIES, at(0), 60, None, latest_window_start=at(2))
    assert t.kind == "resolved" and t.incident.resolution == "retracted" and t.incident.resolved_at == at(3)
    assert book.open_incidents() == []


def test_a_revision_does_not_retract_an_incident_with_later_anomalous_windows() -> None:
    book = IncidentBook(resolve_after_windows=5)
    feed(book, [verdict("spike", 400), verdict("spike", 300)])
    assert book.revise(SERIES, at(0), 60, None, latest_window_start=at(1)) == []
    assert len(book.open_incidents()) == 1


def test_a_revision_that_keeps_the_kind_holds_and_takes_the_new_count() -> None:
    book = IncidentBook(resolve_after_windows=5)
    feed(book, [verdict("spike", 400)])
    (t,) = book.revise(SERIES, at(0), 60, verdict("spike", 310), latest_window_start=at(0))
    assert (t.kind, t.alert, t.incident.observed) == ("held", False, 310)


def test_a_revision_finding_an_anomaly_opens_an_incident_only_while_it_would_still_be_open() -> None:
    book = IncidentBook(resolve_after_windows=3)
    feed(book, [None, None, None, None, None])
    assert book.revise(SERIES, at(1), 60, verdict("silence", 0), latest_window_start=at(4)) == []  # 3 windows ago
    (t,) = book.revise(SERIES, at(3), 60, verdict("silence", 0), latest_window_start=at(4))
    assert t.alert and t.incident.in_band_windows == 1 and t.incident.last_window_at == at(4)
    # one more in-band window resolves it, as if it had been seen in time
    (resolved,) = feed(book, [None, None], start=5)[1]
    assert resolved.incident.resolved_at == at(7)


def test_the_state_is_json_and_a_restored_book_goes_on_where_it_stopped() -> None:
    book = IncidentBook(resolve_after_windows=3)
    feed(book, [verdict("silence", 0), None])
    restored = IncidentBook.from_state(json.loads(json.dumps(book.state())))
    assert restored.open_incidents() == book.open_incidents()
    assert alerts(feed(restored, [verdict("silence", 0)], start=2)) == [0]  # no second page
    steps = feed(restored, [None, None, None], start=3)
    assert [t.kind for s in steps for t in s] == ["resolved"]


def test_resolve_after_windows_must_be_positive() -> None:
    with pytest.raises(ValueError):
        IncidentBook(resolve_after_windows=0)
