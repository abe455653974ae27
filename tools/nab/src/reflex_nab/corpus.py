"""The NAB corpus on disk (shared/nab): series, labelled windows, profiles and published results."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reflex_nab.scorer import Profile

PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


@dataclass(frozen=True, slots=True)
class Series:
    """One file of the corpus: `name` is `<category>/<file>.csv`, as the labels key it."""

    name: str
    path: Path
    windows: list[tuple[datetime, datetime]]

    @property
    def category(self) -> str:
        return self.name.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Corpus:
    root: Path

    def profiles(self) -> dict[str, Profile]:
        raw = json.loads((self.root / "config" / "profiles.json").read_text())
        return {
            name: Profile(
                name,
                float(raw[name]["CostMatrix"]["tpWeight"]),
                float(raw[name]["CostMatrix"]["fpWeight"]),
                float(raw[name]["CostMatrix"]["fnWeight"]),
            )
            for name in PROFILE_NAMES
        }

    def series(self) -> list[Series]:
        labels = json.loads((self.root / "labels" / "combined_windows.json").read_text())
        return [
            Series(name, self.root / "data" / name, [(_time(a), _time(b)) for a, b in windows])
            for name, windows in sorted(labels.items())
        ]

    def published(self) -> dict[str, dict[str, float]]:
        """The published normalised scores: detector → profile → score."""
        data: dict[str, dict[str, float]] = json.loads((self.root / "results" / "final_results.json").read_text())
        return data

    def result_file(self, detector: str, series: Series) -> Path:
        category, file = series.name.split("/", 1)
        return self.root / "results" / detector / category / f"{detector}_{file}"


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as f:
        yield from csv.DictReader(f)


def scored_rows(path: Path, column: str = "anomaly_score") -> tuple[list[datetime], list[float]]:
    """Timestamps and one score column of a detector's output file."""
    times: list[datetime] = []
    scores: list[float] = []
    for row in read_rows(path):
        times.append(_time(row["timestamp"]))
        scores.append(float(row[column]))
    return times, scores
