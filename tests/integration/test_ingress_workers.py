"""INGRESS_WORKERS=2: two worker processes share the webhook port under a supervisor, whose health
port sums their metrics, says whether they all run, and restarts one that dies."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import orjson
import pytest
import requests

from ingress_process import IngressProcess, ingress_process
from pipeline import github_headers


def _metric(ingress: IngressProcess, pattern: str) -> float | None:
    text = requests.get(f"http://127.0.0.1:{ingress.health_port}/metrics", timeout=5).text
    found = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def _wait_for(condition: object, what: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if condition():  # type: ignore[operator]
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not within {deadline_s:g} s: {what}")


def _ready(ingress: IngressProcess) -> bool:
    return requests.get(f"http://127.0.0.1:{ingress.health_port}/readyz", timeout=5).status_code == 200


def _workers(ingress: IngressProcess) -> list[int]:
    children = Path(f"/proc/{ingress.proc.pid}/task/{ingress.proc.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def _send(ingress: IngressProcess, n: int) -> list[int]:
    statuses = []
    for i in range(n):
        body = orjson.dumps({"i": i})
        # A connection per request, so that the kernel spreads them over the workers.
        r = requests.post(f"{ingress.url}/api/v1/events/demo", data=body, headers=github_headers(body), timeout=10)
        statuses.append(r.status_code)
    return statuses


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_health_port_sums_the_workers_metrics(redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    with ingress_process(redis_url, key_prefix, tmp_path, INGRESS_WORKERS="2") as ingress:
        _wait_for(lambda: _ready(ingress), "the supervisor's /readyz answers 200")
        assert len(_workers(ingress)) == 2
        assert _send(ingress, 40) == [202] * 40
        total = _metric(ingress, r'reflex_ingress_requests_total\{source="demo",status="202"\}')
        assert total == 40.0
        assert requests.get(f"http://127.0.0.1:{ingress.health_port}/livez", timeout=5).status_code == 200
    assert ingress.proc.returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_worker_that_dies_is_restarted(redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    with ingress_process(redis_url, key_prefix, tmp_path, INGRESS_WORKERS="2") as ingress:
        _wait_for(lambda: _ready(ingress), "the supervisor's /readyz answers 200")
        first, second = _workers(ingress)
        os.kill(first, signal.SIGKILL)
        _wait_for(lambda: _metric(ingress, "reflex_ingress_worker_restarts_total") == 1.0, "one restart counted")
        _wait_for(lambda: _ready(ingress) and len(_workers(ingress)) == 2, "two workers ready again")
        assert second in _workers(ingress) and first not in _workers(ingress)
        assert _send(ingress, 10) == [202] * 10
