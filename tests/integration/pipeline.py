"""The whole pipeline in one process, for integration tests: the ingress app behind a test server and
the three workers, each run in burst mode when the test says so."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry

from reflex_anomaly.settings import AnomalySettings
from reflex_anomaly.worker import create_worker as create_anomaly_worker
from reflex_common.worker import ConsumerWorker
from reflex_ingress.app import create_app
from reflex_ingress.settings import IngressSettings
from reflex_ingress.sources.config import load_sources
from reflex_ingress.sources.registry import build_sources
from reflex_metrics.closer import WindowCloser
from reflex_metrics.settings import MetricSettings
from reflex_metrics.worker import create_worker as create_metric_worker
from reflex_processor.settings import ProcessorSettings
from reflex_processor.worker import create_worker as create_processor_worker

SECRET = "it's a secret to everybody"

SOURCES_YAML = f"""
sources:
  - name: demo
    kind: github
    secrets: ["{SECRET}"]
  - name: small
    kind: github
    secrets: ["{SECRET}"]
    max_body_bytes: 64
"""


def github_headers(
    body: bytes, event: str = "push", delivery: str | None = None, secret: str = SECRET
) -> dict[str, str]:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": f"sha256={signature}",
        "X-GitHub-Event": event,
        "Content-Type": "application/json",
    }
    if delivery:
        headers["X-GitHub-Delivery"] = delivery
    return headers


def worker_settings(redis_url: str, database_url: str, prefix: str, name: str) -> dict[str, Any]:
    return dict(
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=prefix,
        consumer_name=name,
        block_ms=50,
        min_idle_ms=500,
        claim_interval_s=0.2,
        retry_backoff_max_s=0.2,
    )


@dataclass
class Pipeline:
    client: TestClient
    processor: ConsumerWorker
    metrics: ConsumerWorker
    closer: WindowCloser
    anomaly: ConsumerWorker
    spans: InMemorySpanExporter
    prefix: str

    async def post(self, source: str, payload: Any, **header_args: Any) -> Any:
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return await self.client.post(
            f"/api/v1/events/{source}", data=body, headers=github_headers(body, **header_args)
        )

    async def drain(self) -> None:
        await self.processor.run(burst=True)
        await self.metrics.run(burst=True)


def ingress_app(
    redis_url: str,
    prefix: str,
    tmp: Path,
    tracer: Tracer | None = None,
    sources_yaml: str = SOURCES_YAML,
    **overrides: Any,
) -> web.Application:
    sources_file = tmp / "sources.yaml"
    sources_file.write_text(sources_yaml)
    settings = IngressSettings(
        redis_url=redis_url, key_prefix=prefix, sources_file=sources_file, backlog_refresh_s=0.05, **overrides
    )
    tracer = tracer or TracerProvider().get_tracer("ingress")
    return create_app(settings, build_sources(load_sources(sources_file)), tracer, CollectorRegistry())


@contextlib.asynccontextmanager
async def running_pipeline(
    redis_url: str, database_url: str, prefix: str, tmp: Path, **ingress_overrides: Any
) -> AsyncIterator[Pipeline]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = ingress_app(redis_url, prefix, tmp, provider.get_tracer("ingress"), **ingress_overrides)
    common = worker_settings(redis_url, database_url, prefix, "it")
    async with (
        TestClient(TestServer(app)) as client,
        create_processor_worker(
            ProcessorSettings(**common), provider.get_tracer("processor"), CollectorRegistry()
        ) as processor,
        create_metric_worker(MetricSettings(**common), provider.get_tracer("metrics"), CollectorRegistry()) as (
            metrics,
            closer,
        ),
        create_anomaly_worker(
            AnomalySettings(**common, min_history=3), provider.get_tracer("anomaly"), CollectorRegistry()
        ) as anomaly,
    ):
        yield Pipeline(client, processor, metrics, closer, anomaly, exporter, prefix)
    provider.shutdown()
