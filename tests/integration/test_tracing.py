"""With nothing exporting traces, no spans are made, yet a trace id still runs from the sender's
traceparent (or a new one) through the raw entry, the processor and the forwarded event."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from pipeline import github_headers, ingress_app, worker_settings
from reflex_common.keys import Keys
from reflex_common.schemas import DomainEvent
from reflex_common.telemetry import create_tracer_provider
from reflex_processor.settings import ProcessorSettings
from reflex_processor.worker import create_worker

SENDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def silent_tracer(no_trace_export: None) -> Tracer:
    return create_tracer_provider("t").get_tracer("t")


async def test_trace_ids_run_end_to_end_without_spans(
    redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path, silent_tracer: Tracer
) -> None:
    keys = Keys(key_prefix)
    app = ingress_app(redis_url, key_prefix, tmp_path, silent_tracer)
    async with TestClient(TestServer(app)) as client:
        body = orjson.dumps({"a": 1})
        headers = {**github_headers(body), "traceparent": f"00-{SENDER_TRACE}-00f067aa0ba902b7-00"}
        assert (await client.post("/api/v1/events/demo", data=body, headers=headers)).status == 202
        other = orjson.dumps({"a": 2})  # the same body again, with no delivery id, would be a duplicate
        assert (await client.post("/api/v1/events/demo", data=other, headers=github_headers(other))).status == 202
    settings = ProcessorSettings(**worker_settings(redis_url, migrated_db, key_prefix, "p1"))
    async with create_worker(settings, silent_tracer, CollectorRegistry()) as worker:
        await worker.run(burst=True)
    async with Redis.from_url(redis_url) as r:
        raw = [f[b"traceparent"].decode() for _, f in await r.xrange(keys.raw_stream)]
        forwarded = [
            DomainEvent.from_fields({k.decode(): v for k, v in f.items()}).traceparent
            for _, f in await r.xrange(keys.events_stream)
        ]
    assert raw[0].startswith(f"00-{SENDER_TRACE}-") and raw[0].endswith("-00")
    assert raw[1][3:35] != SENDER_TRACE and raw[1].endswith("-00")  # a new trace for a sender without one
    assert forwarded == raw  # the processor passes the same trace on
