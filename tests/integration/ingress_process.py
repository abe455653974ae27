"""The ingress as a process of its own (`python -m reflex_ingress`), as it runs in production: for tests
that measure its memory, its deadlines and its connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from pipeline import SOURCES_YAML
from reflex_common.testing.servers import free_port


async def wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            assert proc.returncode is None, "ingress exited at start"
            try:
                async with session.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError("ingress never became ready")


@dataclass
class IngressProcess:
    proc: asyncio.subprocess.Process
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        """Resident set size of the ingress process now."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def log(self, tail: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:]


@contextlib.asynccontextmanager
async def ingress_process(
    redis_url: str, prefix: str, tmp: Path, sources_yaml: str = SOURCES_YAML, **env: str
) -> AsyncIterator[IngressProcess]:
    """Start the ingress with these sources and extra environment (e.g. BODY_TIMEOUT_S="3"); stop it
    with SIGTERM on exit (SIGKILL if it does not stop)."""
    sources = tmp / "sources.yaml"
    sources.write_text(sources_yaml)
    port = free_port()
    full_env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": prefix,
        "SOURCES_FILE": str(sources),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "HEALTH_PORT": str(free_port()),
        "LOG_LEVEL": "warning",
        **env,
    }
    log_path = tmp / "ingress.log"
    with log_path.open("wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reflex_ingress", env=full_env, stdout=log_file, stderr=asyncio.subprocess.STDOUT
        )
        try:
            await wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
            yield IngressProcess(proc, port, log_path)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
