"""Schemathesis against the running ingress process with real Redis (issue 10): ≥ 10,000 cases made
from docs/openapi.json, positive and negative, at sources of many kinds — no answer ≥ 500, and the
process's RSS flat. Figures are printed with -s."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
import pytest
import requests

from ingress_process import ingress_process
from pipeline import SECRET
from reflex_ingress.openapi import document_bytes
from schema_fuzz import Plan, run_cases

MIB = 1024 * 1024
# Cases per operation and generation mode; the webhook endpoint gets most. REFLEX_FUZZ_SCALE scales
# them all (CI runs 1: ~11,000 cases).
SCALE = float(os.environ.get("REFLEX_FUZZ_SCALE", "1"))
MIN_TOTAL = int(10_000 * SCALE)
# RSS growth allowed between the end of the warm-up and the end of the run.
RSS_FLAT_BOUND = 16 * MIB

SOURCES = f"""
sources:
  - name: demo
    kind: github
    secrets: ["{SECRET}"]
  - name: pay
    kind: stripe
    secrets: ["whsec_test"]
  - name: chat
    kind: slack
    secrets: ["slack-secret"]
  - name: sms
    kind: twilio
    secrets: ["twilio-token"]
  - name: open
    kind: none
  - name: fb
    kind: meta
    secrets: ["app-secret"]
    options: {{verify_token: "vt"}}
  - name: graph
    kind: msgraph
    secrets: ["client-state"]
  - name: aws
    kind: sns
    options: {{topic_arns: ["arn:aws:sns:us-east-1:123456789012:t"], certificates: {{}}, fetch_certificates: true}}
"""
NAMES = ["demo", "pay", "chat", "sms", "open", "fb", "graph", "aws"]


POST, GET = "POST /api/v1/events/{source}", "GET /api/v1/events/{source}"
# The warm-up, in this process; then the rest in two processes at once (generation is the cost).
WARM_UP: Plan = [
    ("GET /livez", "positive", 50),
    ("GET /readyz", "positive", 50),
    ("GET /openapi.json", "positive", 50),
    (POST, "positive", 1000),
]
SHARES: list[Plan] = [
    [(POST, "positive", 3000), (GET, "positive", 1200)],
    [(POST, "negative", 4000), (GET, "negative", 1200)],
]


def scaled(plan: Plan) -> Plan:
    return [(label, mode, max(1, int(n * SCALE))) for label, mode, n in plan]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_schemathesis_cases_get_no_5xx_and_the_ingress_rss_stays_flat(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    with ingress_process(
        redis_url, key_prefix, tmp_path, SOURCES, PUBLIC_BASE_URL="https://hooks.example.com"
    ) as ingress:
        served = requests.get(f"{ingress.url}/openapi.json", timeout=10).json()
        assert served == orjson.loads(document_bytes())
        started = time.monotonic()
        statuses, errors = run_cases(ingress.url, scaled(WARM_UP), NAMES)
        warm = ingress.rss_bytes()
        with ProcessPoolExecutor(len(SHARES), mp_context=multiprocessing.get_context("spawn")) as pool:
            jobs = [pool.submit(run_cases, ingress.url, scaled(share), NAMES) for share in SHARES]
            for job in jobs:
                share_statuses, share_errors = job.result()
                for status, n in share_statuses.items():
                    statuses[status] = statuses.get(status, 0) + n
                errors += share_errors
        took = time.monotonic() - started
        end = ingress.rss_bytes()
        total = sum(statuses.values())
        print(
            f"\nschemathesis: {total} cases in {took:.0f} s, statuses {sorted(statuses.items())}; "
            f"RSS after the {sum(n for *_, n in scaled(WARM_UP))}-case warm-up {warm / MIB:.1f} MiB, "
            f"at the end {end / MIB:.1f} MiB"
        )
        assert not errors, errors[:5]
        assert total >= MIN_TOTAL
        assert end - warm < RSS_FLAT_BOUND, ingress.log()
        log = ingress.log_path.read_bytes().splitlines()
        assert all(orjson.loads(line) for line in log if line.strip())  # every log line one JSON object
