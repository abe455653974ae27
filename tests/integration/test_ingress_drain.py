"""SIGTERM to a loaded ingress: it stops accepting, finishes what it took, exits 0 — and every
webhook it answered 202 is in the raw stream."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import orjson
import pytest
from redis.asyncio import Redis

from pipeline import SOURCES_YAML, github_headers
from reflex_common.keys import Keys
from reflex_common.testing.servers import free_port


async def wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            assert proc.returncode is None, "ingress exited at start"
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("ingress never became ready")


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_sigterm_under_load_loses_no_accepted_webhook(redis_url: str, key_prefix: str, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(SOURCES_YAML)
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": key_prefix,
        "SOURCES_FILE": str(sources),
        "HTTP_PORT": str(port),
        "HEALTH_PORT": str(free_port()),
        "LOG_LEVEL": "warning",
    }
    log_path = tmp_path / "ingress.log"
    log_file = log_path.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reflex_ingress", env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        accepted: list[str] = []
        refused = 0

        async def send(session: aiohttp.ClientSession, i: int) -> None:
            nonlocal refused
            body = orjson.dumps({"i": i})
            try:
                async with session.post(
                    f"http://127.0.0.1:{port}/api/v1/events/demo", data=body, headers=github_headers(body)
                ) as r:
                    if r.status == 202:
                        accepted.append((await r.json())["id"])
                    else:
                        refused += 1
            except aiohttp.ClientError:
                refused += 1  # the sender retries: nothing was promised

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            first = [asyncio.create_task(send(session, i)) for i in range(300)]
            await asyncio.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            rest = [asyncio.create_task(send(session, 300 + i)) for i in range(300)]
            await asyncio.gather(*first, *rest)
        code = await asyncio.wait_for(proc.wait(), 30)
        assert code == 0, f"exit {code}:\n{log_path.read_text()[-3000:]}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log_file.close()
    assert accepted, f"no request got through before SIGTERM ({refused} refused):\n{log_path.read_text()[-3000:]}"
    async with Redis.from_url(redis_url) as r:
        entries = await r.xrange(Keys(key_prefix).raw_stream)
    stored = {fields[b"event_id"].decode() for _, fields in entries}
    assert set(accepted) <= stored, f"{len(set(accepted) - stored)} accepted webhooks are not in the stream"
    assert len(accepted) + refused == 600
