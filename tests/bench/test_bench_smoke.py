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
E2E_RUNS = {"e2e-sustained", "e2e-latency", "e2e-drain"}  # the e2e benchmark's held runs: no breakdown


@pytest.mark.slow
@pytest.mark.timeout(600)  # the e2e benchmark starts its services twice (the drain has its own)
def test_every_benchmark_runs_and_reports_a_result_and_a_breakdown(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=570,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["failures"] == []
    results = {r["name"]: r for r in report["results"]}
    assert set(results) == BENCHMARKS | E2E_RUNS
    for name in BENCHMARKS:
        result = results[name]
        breakdown = result["breakdown"]
        assert breakdown is not None, name
        assert breakdown["stage"] == name
        assert breakdown["steps"], name
        assert all(step["us"] >= 0 for step in breakdown["steps"]), name
    drain = results["e2e-drain"]["details"]
    assert drain["entries"] > 0 and set(drain["rss_bytes"]) >= {"processor-1", "metric-worker"}
    assert results["e2e-sustained"]["details"]["backlog_samples"]
    assert results["e2e-latency"]["details"]["events"] > 0
    probe = report["machine"]["speed_probe_s"]
    assert set(probe) == {"start", "end"} and all(seconds > 0 for seconds in probe.values())
    assert "summary" in run.stdout
    assert "µs per event" in run.stdout
