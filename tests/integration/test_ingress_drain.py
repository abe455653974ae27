"""SIGTERM to a loaded ingress: it stops accepting, finishes what it took, exits 0 — and every
webhook it answered 202 is in the raw stream."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from ingress_process import ingress_process
from pipeline import github_headers
from reflex_common.keys import Keys


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_under_load_loses_no_accepted_webhook(
    redis_url: str, key_prefix: str, tmp_path: Path, workers: str
) -> None:
    # INGRESS_WORKERS=2: the SIGTERM goes to the supervisor, which drains every worker.
    with ingress_process(redis_url, key_prefix, tmp_path, INGRESS_WORKERS=workers) as ingress:
        proc, port, log_path = ingress.proc, ingress.port, ingress.log_path
        accepted: list[str] = []
        refused = 0
        first_accepted = asyncio.Event()

        async def send(session: aiohttp.ClientSession, i: int) -> None:
            nonlocal refused
            body = orjson.dumps({"i": i})
            try:
                async with session.post(
                    f"http://127.0.0.1:{port}/api/v1/events/demo", data=body, headers=github_headers(body)
                ) as r:
                    if r.status == 202:
                        accepted.append((await r.json())["id"])
                        first_accepted.set()
                    else:
                        refused += 1
            except aiohttp.ClientError:
                refused += 1  # the sender retries: nothing was promised

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            first = [asyncio.create_task(send(session, i)) for i in range(300)]
            # SIGTERM once the ingress is taking the load (not after a guessed sleep: on a busy machine
            # nothing may have been answered yet), with most of the first 300 still in flight.
            await asyncio.wait_for(first_accepted.wait(), 30)
            proc.send_signal(signal.SIGTERM)
            rest = [asyncio.create_task(send(session, 300 + i)) for i in range(300)]
            await asyncio.gather(*first, *rest)
        code = await asyncio.to_thread(proc.wait, 30)
        assert code == 0, f"exit {code}:\n{log_path.read_text()[-3000:]}"
    assert accepted, f"no request got through before SIGTERM ({refused} refused):\n{log_path.read_text()[-3000:]}"
    async with Redis.from_url(redis_url) as r:
        entries = await r.xrange(Keys(key_prefix).raw_stream)
    stored = {fields[b"event_id"].decode() for _, fields in entries}
    assert set(accepted) <= stored, f"{len(set(accepted) - stored)} accepted webhooks are not in the stream"
    assert len(accepted) + refused == 600
