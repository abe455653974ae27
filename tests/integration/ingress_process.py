"""The ingress as a process of its own (`python -m reflex_ingress`), as it runs in production: for tests
that measure its memory, its deadlines and its connections."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline import SOURCES_YAML
from reflex_common.testing.servers import free_port


def wait_ready(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, "ingress exited at start"
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("ingress never became ready")


@dataclass
class IngressProcess:
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    health_port: int = 0

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


@contextlib.contextmanager
def ingress_process(
    redis_url: str, prefix: str, tmp: Path, sources_yaml: str = SOURCES_YAML, **env: str
) -> Iterator[IngressProcess]:
    """Start the ingress with these sources and extra environment (e.g. BODY_TIMEOUT_S="3"); stop it
    with SIGTERM on exit (SIGKILL if it does not stop). Usable from sync and async tests alike."""
    sources = tmp / "sources.yaml"
    sources.write_text(sources_yaml)
    port, health_port = free_port(), free_port()
    full_env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "KEY_PREFIX": prefix,
        "SOURCES_FILE": str(sources),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(port),
        "HEALTH_PORT": str(health_port),
        "LOG_LEVEL": "warning",
        **env,
    }
    log_path = tmp / "ingress.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reflex_ingress"], env=full_env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
            yield IngressProcess(proc, port, log_path, health_port)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
