"""`make nab` (`uv run python -m reflex_nab`): our detector on the Numenta Anomaly Benchmark.

1. Proves the scorer: re-scores the published relativeEntropy results and compares with the published
   normalised scores (to two decimals); a mismatch stops here (exit 1).
2. Runs `python -m reflex_anomaly.backtest` — the service's detector and incident lifecycle with default
   settings — over every series of the corpus, in parallel processes.
3. Scores its output on the three profiles: optimised (one corpus-wide threshold on `anomaly_score`) and
   as deployed (the `alert` column as the detector), per category, beside the published scoreboard,
   with µs per point. `--json PATH` writes the same figures."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from reflex_nab.corpus import Corpus, Series, scored_rows
from reflex_nab.scorer import Point, Profile, normalised, points_of, raw_score, sweep

_REPRODUCE = "relativeEntropy"
_DEFAULT_ROOT = Path(__file__).resolve().parents[4] / ".." / "shared" / "nab"


def _points(series: list[Series], path_of: dict[str, Path], column: str) -> dict[str, list[Point]]:
    out = {}
    for s in series:
        times, scores = scored_rows(path_of[s.name], column)
        out[s.name] = points_of(s.name, times, scores, s.windows)
    return out


def _optimised(points: dict[str, list[Point]], n_windows: int, profile: Profile) -> tuple[float, float]:
    best = sweep([p for ps in points.values() for p in ps], n_windows, profile)
    return best.threshold, normalised(best.raw, n_windows, profile)


def reproduce(corpus: Corpus, series: list[Series]) -> dict[str, float]:
    paths = {s.name: corpus.result_file(_REPRODUCE, s) for s in series}
    points = _points(series, paths, "anomaly_score")
    n = sum(len(s.windows) for s in series)
    return {name: _optimised(points, n, p)[1] for name, p in corpus.profiles().items()}


def run_backtest(series: list[Series], out_dir: Path, jobs: int) -> tuple[int, float]:
    timings = out_dir / "timings.jsonl"
    timings.unlink(missing_ok=True)
    shares = [series[i::jobs] for i in range(jobs)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reflex_anomaly.backtest",
                "--quiet",
                "--out-dir",
                str(out_dir),
                "--timings",
                str(timings),
                *(str(s.path) for s in share),
            ]
        )
        for share in shares
        if share
    ]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("nab: the backtest failed (see above)")
    rows = seconds = 0.0
    for line in timings.read_text().splitlines():
        t = json.loads(line)
        rows += t["rows"]
        seconds += t["seconds"]
    return int(rows), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reflex_nab", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--nab-dir", type=Path, default=_DEFAULT_ROOT.resolve(), help="NAB data (default ../shared/nab)"
    )
    parser.add_argument("--out-dir", type=Path, help="keep the backtest output here (default: a temporary folder)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    if not (args.nab_dir / "labels" / "combined_windows.json").is_file():
        print(f"nab: no NAB corpus at {args.nab_dir} (set --nab-dir)", file=sys.stderr)
        return 2
    corpus = Corpus(args.nab_dir)
    series = corpus.series()
    published = corpus.published()
    profiles = corpus.profiles()
    report: dict[str, object] = {}

    ours_re = reproduce(corpus, series)
    line = ", ".join(f"{name} {ours_re[name]:.2f} (published {published[_REPRODUCE][name]:.2f})" for name in profiles)
    print(f"scorer check, relativeEntropy re-scored: {line}")
    report["scorer_check"] = {"ours": ours_re, "published": published[_REPRODUCE]}
    if any(round(ours_re[n], 2) != round(published[_REPRODUCE][n], 2) for n in profiles):
        print("nab: the scorer does not reproduce the published scores; not scoring our detector", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out_dir or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        rows, seconds = run_backtest(series, out_dir, max(1, args.jobs))
        paths = {s.name: out_dir / s.path.name for s in series}
        scores = _points(series, paths, "anomaly_score")
        alerts = _points(series, paths, "alert")
    n = sum(len(s.windows) for s in series)
    table: dict[str, dict[str, float]] = {}
    print(
        f"\nReflexAgent detector on NAB v1.1 ({len(series)} series, {rows} points, "
        f"{1e6 * seconds / rows:.1f} µs per point)"
    )
    print(f"{'profile':22s} {'optimised':>10s} {'threshold':>10s} {'as deployed':>12s}")
    thresholds = {}
    for name, profile in profiles.items():
        threshold, opt = _optimised(scores, n, profile)
        deployed = normalised(raw_score([p for ps in alerts.values() for p in ps], n, profile, 0.5), n, profile)
        thresholds[name] = threshold
        table[name] = {"optimised": opt, "threshold": threshold, "deployed": deployed}
        print(f"{name:22s} {opt:10.2f} {threshold:10.4f} {deployed:12.2f}")
    standard = profiles["standard"]
    print(f"\nper category, standard profile (optimised at {thresholds['standard']:.4f} / as deployed):")
    categories: dict[str, dict[str, float]] = {}
    for category in sorted({s.category for s in series}):
        members = [s for s in series if s.category == category]
        k = sum(len(s.windows) for s in members)
        opt_raw = sum(raw_score(scores[s.name], len(s.windows), standard, thresholds["standard"]) for s in members)
        dep_raw = sum(raw_score(alerts[s.name], len(s.windows), standard, 0.5) for s in members)
        false_alerts = sum(1 for s in members for p in alerts[s.name] if p.score >= 0.5 and p.window is None)
        if k:
            row = {
                "windows": k,
                "optimised": normalised(opt_raw, k, standard),
                "deployed": normalised(dep_raw, k, standard),
            }
            print(
                f"  {category:24s} {k:3d} windows {row['optimised']:8.2f} {row['deployed']:8.2f}"
                f"   false alerts {false_alerts}"
            )
        else:  # no windows: normalisation is undefined; the raw score is the cost of its false alarms
            row = {"windows": 0, "raw_optimised": opt_raw, "raw_deployed": dep_raw}
            print(f"  {category:24s}   0 windows  raw {opt_raw:6.2f} {dep_raw:6.2f}   false alerts {false_alerts}")
        row["false_alerts"] = false_alerts
        categories[category] = row
    print("\npublished scoreboard (standard / reward_low_FP_rate / reward_low_FN_rate):")
    board = sorted(published.items(), key=lambda kv: -kv[1]["standard"])
    ours = {name: table[name]["optimised"] for name in profiles}
    for name, s in [*board, ("ReflexAgent (this run)", ours)]:
        print(f"  {name:24s} {s['standard']:6.1f} {s['reward_low_FP_rate']:6.1f} {s['reward_low_FN_rate']:6.1f}")
    report |= {"profiles": table, "categories": categories, "points": rows, "us_per_point": 1e6 * seconds / rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
