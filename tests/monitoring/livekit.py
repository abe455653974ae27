"""The four services as real processes (`python -m …`, as deployed), fed a few signed webhooks, and
their /metrics scraped: what the dashboard and the rules may name, and what the metrics say."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from pipeline import SECRET, github_headers
from reflex_common.testing import free_port
from reflex_common.testing.children import Child
from workers import start_worker

SERVICES = ("ingress", "event-processor", "metric-worker", "anomaly-detector")
MODULES = {
    "ingress": "reflex_ingress",
    "event-processor": "reflex_processor",
    "metric-worker": "reflex_metrics",
    "anomaly-detector": "reflex_anomaly",
}
ACCEPTED = 20  # signed webhooks the scraped services were fed, answered 202
REJECTED = 2  # with a wrong secret, answered 401
SOURCES_YAML = f"""
sources:
  - name: demo
    kind: github
    secrets: ["{SECRET}"]
"""


def http(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body or None, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# The series a metric family of each type is exported as (prometheus_client's text format).
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


def _series_names(family: str, kind: str) -> list[str]:
    return [family + suffix for suffix in _SUFFIXES.get(kind, ("",))]


@dataclass
class Scrape:
    """One service's /metrics, parsed."""

    text: str
    samples: list[Sample] = field(init=False)
    declared: set[str] = field(init=False)

    def __post_init__(self) -> None:
        families = list(text_string_to_metric_families(self.text))
        self.samples = [s for family in families for s in family.samples]
        self.declared = {name for family in families for name in _series_names(family.name, family.type)}

    @property
    def names(self) -> set[str]:
        """Names of the series present now."""
        return {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of `name` whose labels include `labels` (0 when there are none)."""
        return sum(s.value for s in self.samples if s.name == name and labels.items() <= s.labels.items())


@dataclass
class LiveServices:
    processes: dict[str, Child]
    health_ports: dict[str, int]
    http_port: int

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.health_ports[service]}{path}"

    def scrape(self, service: str) -> Scrape:
        status, body = http("GET", self.url(service, "/metrics"))
        assert status == 200, f"{service} /metrics: {status}"
        return Scrape(body.decode())

    def post(self, payload: object, *, secret: str = SECRET, source: str = "demo", delivery: str = "") -> int:
        body = orjson.dumps(payload)
        headers = github_headers(body, delivery=delivery or None, secret=secret)
        return http("POST", f"http://127.0.0.1:{self.http_port}/api/v1/events/{source}", body, headers)[0]

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            for process in self.processes.values():
                if not process.alive:
                    raise AssertionError(f"{process.name} exited while waiting for {what}:\n{process.tail()}")
            with contextlib.suppress(OSError):
                if condition():
                    return
            if time.monotonic() > deadline:
                logs = "\n---\n".join(p.tail() for p in self.processes.values())
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            time.sleep(0.05)

    def ready(self, service: str) -> bool:
        return http("GET", self.url(service, "/readyz"))[0] == 200


@contextlib.contextmanager
def live_services(
    redis_url: str, database_url: str, prefix: str, workdir: Path, only: tuple[str, ...] = SERVICES
) -> Iterator[LiveServices]:
    sources = workdir / "sources.yaml"
    sources.write_text(SOURCES_YAML)
    http_port = free_port()
    common = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "KEY_PREFIX": prefix,
        "LOG_LEVEL": "warning",
        "BLOCK_MS": "100",
        "STATS_INTERVAL_S": "0.2",
        "BACKLOG_REFRESH_S": "0.2",
    }
    extra = {
        "ingress": {"HTTP_PORT": str(http_port), "SOURCES_FILE": str(sources)},
        # One-second windows that close at once: the closer and the detector have work within the test.
        "metric-worker": {"WINDOW_S": "1", "LATENESS_S": "0", "CLOSE_INTERVAL_S": "0.2"},
        "anomaly-detector": {"MIN_HISTORY": "3"},
    }
    processes: dict[str, Child] = {}
    health_ports = {service: free_port() for service in only}
    try:
        for service in only:
            env = {
                **common,
                **extra.get(service, {}),
                "CONSUMER_NAME": service,
                "HEALTH_PORT": str(health_ports[service]),
            }
            processes[service] = start_worker(MODULES[service], env, workdir / f"{service}.log")
        live = LiveServices(processes, health_ports, http_port)
        for service in only:
            live.wait_until(lambda s=service: live.ready(s), 60, f"{service} to be ready")  # type: ignore[misc]
        yield live
    finally:
        for process in processes.values():
            if process.alive:
                process.stop(30)
