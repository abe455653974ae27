"""Load generators: wrk with a generated Lua script, or an aiohttp client in its own process
(`python -m benchmarks --load-worker CONFIG`)."""

from __future__ import annotations

import asyncio
import json
import math
import resource
import secrets
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bodies import SOURCE_NAME, Variant
from benchmarks.processes import CHILDREN
from benchmarks.wrk import QUOTA_MARK, RESULT_MARK, wrk_binary, wrk_script
from reflex_common.testing.children import Child


@dataclass
class LoadResult:
    generator: str
    requests: int  # completed requests
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)  # aiohttp only ("2xx"/"non2xx" for wrk)
    errors: int = 0  # socket errors, timeouts and HTTP statuses >= 400
    p50_ms: float | None = None
    p99_ms: float | None = None
    bounded: bool = False  # the request bound was reached before the duration ran out
    generator_cpu: float = 0.0  # the load generator's CPU use, in cores (1.0 = one core busy all along)
    generator_cores: int = 1  # cores it can use at most (wrk threads; 1 for the aiohttp client)

    @property
    def generator_saturated(self) -> bool:
        """Whether the load generator, not the server, may have been the limit."""
        return self.generator_cpu >= 0.75 * self.generator_cores

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


class LoadRun:
    """One run of the load generator, in a process of its own; start() then result()."""

    def __init__(
        self,
        generator: str,
        port: int,
        variants: list[Variant],
        *,
        seconds: float,
        connections: int,
        max_requests: int,
        workdir: Path,
        threads: int = 1,
        rate: float | None = None,
    ) -> None:
        """`rate`: requests per second, paced (the aiohttp client only; wrk sends as fast as it can)."""
        if rate is not None and generator == "wrk":
            raise ValueError("wrk cannot pace its requests: use the aiohttp client for a paced run")
        self.generator = generator
        self.port = port
        self.run_id = secrets.token_hex(6)
        self._proc: Child | None = None
        self._seconds = seconds
        self._threads = threads if generator == "wrk" else 1
        self._lines: list[str] = []
        self._reader: threading.Thread | None = None
        url = f"http://127.0.0.1:{port}/api/v1/events/{SOURCE_NAME}"
        if generator == "wrk":
            binary = wrk_binary()
            assert binary is not None
            quota = max(1, math.ceil(max_requests / threads))
            script = workdir / f"load-{self.run_id}.lua"
            script.write_text(wrk_script(port, variants, self.run_id, quota))
            duration = max(1, math.ceil(seconds))
            self._command = [
                binary,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}",
            ]
        else:
            config = workdir / f"load-{self.run_id}.json"
            config.write_text(
                json.dumps(
                    {
                        "url": url,
                        "run_id": self.run_id,
                        "seconds": seconds,
                        "connections": connections,
                        "max_requests": max_requests,
                        "rate": rate,
                        "variants": [
                            {"body": v.body.hex(), "signature": v.signature, "event": v.event} for v in variants
                        ],
                    }
                )
            )
            self._command = [sys.executable, "-m", "benchmarks", "--load-worker", str(config)]

    def start(self) -> LoadRun:
        self._rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._started = time.monotonic()
        self._proc = CHILDREN.start(f"load-{self.generator}", self._command, capture=True)
        self._reader = threading.Thread(target=self._read, args=(self._proc,), daemon=True)
        self._reader.start()
        return self

    def _read(self, child: Child) -> None:
        """Collect the output; once every wrk thread has reached its quota, SIGINT makes wrk report at once
        (its main thread would otherwise sleep out the whole -d duration)."""
        marks = 0
        for raw in child.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self._lines.append(line)
            if line == QUOTA_MARK:
                marks += 1
                if marks == self._threads:
                    child.send(signal.SIGINT)

    def running(self) -> bool:
        return self._proc is not None and self._proc.alive

    def result(self) -> LoadResult:
        assert self._proc is not None and self._reader is not None
        try:
            self._proc.wait(self._seconds + 120)
            self._reader.join(timeout=10)
        finally:
            CHILDREN.stop(self._proc)
        # CPU of the children reaped meanwhile: the load generator alone (the servers still run).
        rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (rusage.ru_utime - self._rusage0.ru_utime) + (rusage.ru_stime - self._rusage0.ru_stime)
        cores = cpu_s / max(time.monotonic() - self._started, 1e-6)
        line = next((ln for ln in self._lines if ln.startswith(RESULT_MARK)), None)
        if line is None:
            code = self._proc.returncode
            text = "\n".join(self._lines[-30:])
            raise RuntimeError(f"{self.generator} load generator gave no result (exit {code}):\n{text}")
        data = json.loads(line[len(RESULT_MARK) :])
        if self.generator == "wrk":
            return LoadResult(
                generator="wrk",
                requests=int(data["requests"]),
                seconds=data["duration_us"] / 1e6,
                statuses={
                    "<400": int(data["requests"]) - int(data["status_errors"]),
                    ">=400": int(data["status_errors"]),
                },
                errors=int(data["errors"]) + int(data["status_errors"]),
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                bounded=bool(data["bounded"]),
                generator_cpu=cores,
                generator_cores=self._threads,
            )
        return LoadResult(**{**data, "generator_cpu": cores, "generator_cores": 1})


async def _aiohttp_load(config: dict[str, Any]) -> LoadResult:
    import aiohttp

    variants = [Variant(bytes.fromhex(v["body"]), v["signature"], v["event"]) for v in config["variants"]]
    url, run_id = config["url"], config["run_id"]
    max_requests, connections = int(config["max_requests"]), int(config["connections"])
    rate = float(config["rate"]) if config.get("rate") else None
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    sent = 0
    errors = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        deadline = time.monotonic() + float(config["seconds"])

        async def one_connection() -> None:
            nonlocal sent, errors
            while time.monotonic() < deadline and sent < max_requests:
                sent += 1
                if rate is not None:  # request k goes out k / rate seconds after the start
                    delay_s = began + (sent - 1) / rate - time.monotonic()
                    if delay_s > 0:
                        await asyncio.sleep(delay_s)
                v = variants[sent % len(variants)]
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": v.event,
                    "X-Hub-Signature-256": v.signature,
                    "X-GitHub-Delivery": f"{run_id}-1-{sent}",
                    "User-Agent": "GitHub-Hookshot/bench",
                }
                started = time.perf_counter()
                try:
                    async with session.post(url, data=v.body, headers=headers) as response:
                        await response.read()
                        statuses[str(response.status)] += 1
                        if response.status >= 400:
                            errors += 1
                except (aiohttp.ClientError, OSError, TimeoutError):
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.monotonic()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        elapsed = time.monotonic() - began
    latencies.sort()

    def pct(p: float) -> float | None:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else None

    return LoadResult(
        generator="aiohttp",
        requests=len(latencies),
        seconds=elapsed,
        statuses=dict(statuses),
        errors=errors,
        p50_ms=pct(0.5),
        p99_ms=pct(0.99),
        bounded=sent >= max_requests,
    )


def load_worker_main(config_path: str) -> int:
    import uvloop

    config = json.loads(Path(config_path).read_text())
    result = uvloop.run(_aiohttp_load(config))
    print(RESULT_MARK + json.dumps(asdict(result)), flush=True)
    return 0
