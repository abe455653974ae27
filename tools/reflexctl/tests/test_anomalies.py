"""`reflexctl anomalies` against a real Postgres with the incidents table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from reflexctl.__main__ import main

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def add_incident(db: str, source: str, kind: str, opened_min: int, resolved_min: int | None, observed: float) -> None:
    resolved = T0 + timedelta(minutes=resolved_min) if resolved_min is not None else None
    with psycopg.connect(db) as conn:
        conn.execute(
            "INSERT INTO incidents (source, type, kind, window_s, opened_at, last_anomalous_at, last_window_at,"
            " anomalous_windows, in_band_windows, observed, expected, lower_bound, upper_bound, explanation,"
            " resolved_at, resolution) VALUES (%s, '*', %s, 60, %s, %s, %s, 2, 0, %s, 100, 60, 140, 'why', %s, %s)",
            (
                source,
                kind,
                T0 + timedelta(minutes=opened_min),
                T0 + timedelta(minutes=opened_min),
                T0 + timedelta(minutes=opened_min),
                observed,
                resolved,
                "recovered" if resolved else None,
            ),
        )


def test_anomalies_lists_incidents_open_first_with_observed_against_the_band(
    migrated_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    add_incident(migrated_db, "shop", "spike", 0, 12, 412)
    add_incident(migrated_db, "shop", "silence", 20, None, 0)
    add_incident(migrated_db, "billing", "drop", 5, None, 12.5)
    assert main(["anomalies", "--database-url", migrated_db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "source",
        "type",
        "kind",
        "observed",
        "expected",
        "(band)",
        "windows",
        "opened",
        "resolved",
    ]
    assert [line.split()[:4] for line in lines[1:4]] == [
        ["shop", "*", "silence", "0"],  # open ones first, newest first
        ["billing", "*", "drop", "12.5"],
        ["shop", "*", "spike", "412"],
    ]
    assert "100 (60.0–140.0)" in lines[3] and "2026-04-01 08:00:00Z" in lines[3]
    assert lines[3].endswith("2026-04-01 08:12:00Z recovered") and lines[1].endswith("open")
    assert lines[4] == "3 incident(s), 2 open"


def test_anomalies_filters_open_ones_and_by_source(migrated_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    add_incident(migrated_db, "shop", "spike", 0, 12, 412)
    add_incident(migrated_db, "shop", "silence", 20, None, 0)
    add_incident(migrated_db, "billing", "drop", 5, None, 12.5)
    assert main(["anomalies", "--open", "--source", "shop", "--database-url", migrated_db]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in out[1:-1]] == [["shop", "*", "silence"]]
    assert main(["anomalies", "--open", "--source", "nobody", "--database-url", migrated_db]) == 0
    assert capsys.readouterr().out.strip() == "no open incidents"


def test_anomalies_says_what_went_wrong_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["anomalies", "--database-url", "postgresql://nobody@127.0.0.1:9/none"]) == 1
    assert "reflexctl anomalies:" in capsys.readouterr().err
