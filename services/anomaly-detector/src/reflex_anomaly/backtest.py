"""`python -m reflex_anomaly.backtest --out-dir DIR FILE.csv [FILE.csv ...]`: the service's detector and
incident lifecycle, with its default settings (or the environment's, as the service reads them), run over
a recorded series, point by point, no look-ahead.

Each input has the header `timestamp,value` (NAB's format: ISO timestamps, float values that may be
fractional or negative); each row is one window, the window being the series' own interval. For every
input, `DIR/<basename>` gets `timestamp,value,anomaly_score,alert`: one row per input row, in order;
`anomaly_score` in [0, 1]; `alert` 1 where the service would open an incident (page on-call), else 0.

A file that cannot be read is reported with its line and skipped; the others are still written, and the
exit code is 1. Bad arguments exit 2."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from reflex_anomaly.detector import DetectorConfig, SeriesDetector
from reflex_anomaly.incidents import IncidentBook

_KEY = ("backtest", "*")


class BadSeries(ValueError):
    """A series file that does not have the `timestamp,value` shape; names the file and line."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    timestamp: str
    value_text: str
    at_s: float
    value: float


def _epoch_s(text: str) -> float:
    at = datetime.fromisoformat(text.strip())
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def read_series(path: Path) -> list[Row]:
    """Every row of a `timestamp,value` file, in order; BadSeries for anything else."""
    rows: list[Row] = []
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise BadSeries(f"{path}:1: the header must start with timestamp,value (got {header!r})")
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) < 2:
                raise BadSeries(f"{path}:{line}: expected timestamp,value")
            try:
                at_s = _epoch_s(row[0])
            except ValueError:
                raise BadSeries(f"{path}:{line}: {row[0]!r} is not an ISO timestamp") from None
            try:
                value = float(row[1])
            except ValueError:
                raise BadSeries(f"{path}:{line}: {row[1]!r} is not a number") from None
            if value != value or value in (float("inf"), float("-inf")):
                raise BadSeries(f"{path}:{line}: {row[1]!r} is not a finite number")
            rows.append(Row(line, row[0], row[1], at_s, value))
    return rows


@dataclass(frozen=True, slots=True)
class Scored:
    row: Row
    score: float
    alert: bool


def backtest(rows: Sequence[Row], config: DetectorConfig, resolve_after_windows: int) -> Iterator[Scored]:
    """The service's path for one series: the detector judges each window, the incident book decides
    whether that judgement pages. Each row is one window, in file order (recorded series sometimes
    repeat a timestamp); its length is the series' own interval so far (the median step between the
    last timestamps), since recorded series have no fixed window."""
    detector = SeriesDetector(config)
    book = IncidentBook(resolve_after_windows)
    steps: list[float] = []
    previous: float | None = None
    for row in rows:
        if previous is not None and row.at_s > previous:  # recorded series repeat or reorder a few stamps
            steps.append(row.at_s - previous)
            if len(steps) > 101:
                del steps[0]
        previous = row.at_s
        window_s = sorted(steps)[len(steps) // 2] if steps else 60.0
        judgement = detector.observe(row.at_s, window_s, row.value)
        start = datetime.fromtimestamp(row.at_s, UTC)
        transitions = book.observe(_KEY, start, int(max(window_s, 1)), judgement.verdict)
        yield Scored(row, judgement.score, any(t.kind == "opened" for t in transitions))


def write_scored(path: Path, scored: Sequence[Scored]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["timestamp", "value", "anomaly_score", "alert"])
        for s in scored:
            out.writerow([s.row.timestamp, s.row.value_text, f"{s.score:.12f}", int(s.alert)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reflex_anomaly.backtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", required=True, type=Path, help="where DIR/<basename> is written")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE.csv")
    parser.add_argument("--quiet", action="store_true", help="no per-file line on stderr")
    parser.add_argument("--timings", type=Path, help="append one JSON line per file: rows and detector seconds")
    args = parser.parse_args(argv)
    from reflex_anomaly.settings import AnomalySettings
    from reflex_common.settings import load_settings

    settings = load_settings(AnomalySettings, "reflex-anomaly-backtest")
    config, resolve_after = settings.detector_config(), settings.resolve_after_windows
    args.out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    names: set[str] = set()
    for path in args.files:
        if path.name in names:
            print(
                f"backtest: {path}: another input has the same name; its output would be overwritten", file=sys.stderr
            )
            failed += 1
            continue
        names.add(path.name)
        try:
            rows = read_series(path)
        except (BadSeries, OSError, UnicodeDecodeError) as exc:
            print(f"backtest: {exc}", file=sys.stderr)
            failed += 1
            continue
        started = time.perf_counter()
        scored = list(backtest(rows, config, resolve_after))
        seconds = time.perf_counter() - started
        write_scored(args.out_dir / path.name, scored)
        alerts = sum(s.alert for s in scored)
        if not args.quiet:
            us = 1e6 * seconds / max(len(rows), 1)
            print(f"backtest: {path.name}: {len(rows)} rows, {alerts} alerts, {us:.1f} µs per point", file=sys.stderr)
        if args.timings:
            with args.timings.open("a") as t:
                t.write(json.dumps({"file": str(path), "rows": len(rows), "seconds": seconds}) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
