"""CPU before verification (issue 10, finding 2): forms of 120,000 empty parameters with a bogus
Twilio signature, 40 at once, do not hold up a valid GitHub delivery."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from ingress_process import IngressProcess, ingress_process
from pipeline import SECRET, github_headers

# The valid delivery is answered within this while the 40 hostile requests are in flight (before the
# fix: 32.9 s, each hostile form costing ~0.9 s of event-loop time before its 401).
LATENCY_BOUND_S = 2.0

SOURCES = f"""
sources:
  - name: demo
    kind: github
    secrets: ["{SECRET}"]
  - name: sms
    kind: twilio
    secrets: ["twilio-auth-token"]
    max_body_bytes: 1048576   # raised by the operator: the worst case for parsing
"""
HOSTILE_FORM = b"&".join(b"p%d=" % i for i in range(120_000))  # ~1 MB, 120,000 empty parameters


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_40_hostile_twilio_forms_leave_a_valid_github_delivery_fast(
    redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # A budget that holds all 40 bodies: this test is about CPU, test_hostile_budgets about memory.
    with ingress_process(
        redis_url,
        key_prefix,
        tmp_path,
        SOURCES,
        PUBLIC_BASE_URL="https://hooks.example.com",
        MAX_BUFFERED_BYTES=str(64 * 1024 * 1024),
    ) as ing:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            await flood_and_deliver(ing, session)


async def flood_and_deliver(ing: IngressProcess, session: aiohttp.ClientSession) -> None:
    """40 hostile forms in flight, and a valid GitHub delivery sent meanwhile: its latency."""
    signatures = ["AAAA", base64.b64encode(b"\0" * 20).decode()]  # malformed; well-formed but wrong

    async def hostile(i: int) -> int:
        headers = {
            "X-Twilio-Signature": signatures[i % 2],
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with session.post(f"{ing.url}/api/v1/events/sms", data=HOSTILE_FORM, headers=headers) as r:
            return r.status

    flood = [asyncio.create_task(hostile(i)) for i in range(40)]
    await asyncio.sleep(0)  # the flood's connections are under way
    body = orjson.dumps({"ok": True})
    started = time.monotonic()
    async with session.post(f"{ing.url}/api/v1/events/demo", data=body, headers=github_headers(body)) as r:
        valid = r.status
    latency = time.monotonic() - started
    statuses = await asyncio.gather(*flood)
    print(
        f"\ntwilio flood: valid GitHub delivery {valid} in {latency * 1000:.0f} ms "
        f"(bound {LATENCY_BOUND_S:g} s); hostile answers {sorted({s: statuses.count(s) for s in statuses}.items())}"
    )
    assert valid == 202
    assert set(statuses) <= {400, 401}
    assert latency < LATENCY_BOUND_S, ing.log()
