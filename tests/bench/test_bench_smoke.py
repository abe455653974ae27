"""`make bench` never rots: every benchmark runs end to end at tiny sizes (`--smoke`), and its JSON has
a result and a stage breakdown for each. No figure is asserted: speed is measured by `make bench`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = {"ingress", "processor", "e2e"}


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_benchmark_runs_and_reports_a_result_and_a_breakdown(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["failures"] == []
    results = {r["name"]: r for r in report["results"]}
    assert set(results) == BENCHMARKS
    for name, result in results.items():
        breakdown = result["breakdown"]
        assert breakdown is not None, name
        assert breakdown["stage"] == name
        assert breakdown["steps"], name
        assert all(step["us"] >= 0 for step in breakdown["steps"]), name
    assert "summary" in run.stdout
    assert "µs per event" in run.stdout
