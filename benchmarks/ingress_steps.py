"""The ingress's steps for the stage breakdown, mirroring handlers.receive_webhook on a batch of signed
requests: the trace id (observe middleware), parse the request, verify, check the JSON, dedup + XADD, respond.

The app is the real one (create_app, its cleanup contexts run: Redis client, backlog monitor, enqueuer);
the requests are aiohttp Requests made in advance (untimed) with make_mocked_request, so "parse request"
is our part of it (headers → WebhookRequest), not aiohttp's HTTP parser, which the bare baseline pays
too. Dedup + XADD submits `concurrency` requests at a time, as that many connections would, so the
enqueuer shares pipelines as under load. Kept apart so that whoever reworks the ingress updates this
list (and only this) to match."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from benchmarks.bodies import SOURCE_NAME, Variant
from benchmarks.breakdown import Breakdown, Step, measure
from benchmarks.servers import ingress_app
from reflex_common.telemetry import records, unrecorded_traceparent
from reflex_ingress import handlers
from reflex_ingress.enqueuer import Enqueued
from reflex_ingress.keys import SOURCES, TRACEPARENT, TRACER
from reflex_ingress.settings import IngressSettings
from reflex_ingress.sources.request import Verified, WebhookRequest


@dataclass
class Batch:
    requests: list[tuple[web.Request, bytes]]
    received_ms: int
    wreqs: list[WebhookRequest] = field(default_factory=list)
    verified: list[Verified] = field(default_factory=list)
    enqueued: list[tuple[str, Enqueued]] = field(default_factory=list)
    responses: list[web.Response] = field(default_factory=list)


class IngressSteps:
    def __init__(self, app: web.Application, variants: list[Variant], size: int, concurrency: int) -> None:
        self._app = app
        self._source = app[SOURCES][SOURCE_NAME]
        self._variants = variants
        self._size = size
        self._concurrency = concurrency
        self._run_id = secrets.token_hex(6)
        self._runs = 0

    def steps(self) -> Sequence[Step[Batch]]:
        return [
            Step("trace id", "cpu", self.trace),
            Step("parse request", "cpu", self.parse),
            Step("verify", "cpu", self.verify),
            Step("JSON check", "cpu", self.check),
            Step("dedup + XADD", "wall", self.enqueue),
            Step("respond", "cpu", self.respond),
        ]

    async def fresh(self) -> Batch:
        self._runs += 1
        requests = []
        for i in range(self._size):
            v = self._variants[i % len(self._variants)]
            headers = {
                "Host": "127.0.0.1:8080",
                "Content-Type": "application/json",
                "X-GitHub-Event": v.event,
                "X-Hub-Signature-256": v.signature,
                "User-Agent": "GitHub-Hookshot/bench",
                "Content-Length": str(len(v.body)),
                "X-GitHub-Delivery": f"{self._run_id}-{self._runs}-{i}",
            }
            request = make_mocked_request(
                "POST", f"/api/v1/events/{SOURCE_NAME}", headers, app=self._app, match_info={"source": SOURCE_NAME}
            )
            requests.append((request, v.body))
        return Batch(requests, int(time.time() * 1000))

    def trace(self, b: Batch) -> None:
        # As the observe middleware does when no span would record (the bench exports no traces).
        tracer = self._app[TRACER]
        for request, _ in b.requests:
            incoming = request.headers.get("traceparent")
            request[TRACEPARENT] = unrecorded_traceparent(incoming) if not records(tracer, incoming) else ""

    def parse(self, b: Batch) -> None:
        b.wreqs = [handlers.webhook_request(request, body) for request, body in b.requests]

    async def verify(self, b: Batch) -> None:
        # handlers.verify awaits nothing for a kind that never blocks: its time is CPU.
        now = datetime.fromtimestamp(b.received_ms / 1000, tz=UTC)
        for (request, _), wreq in zip(b.requests, b.wreqs, strict=True):
            b.verified.append(await handlers.verify(request, self._source, wreq, now))

    def check(self, b: Batch) -> None:
        for wreq in b.wreqs:
            handlers.check_body(self._source, wreq)

    async def enqueue(self, b: Batch) -> None:
        work = list(zip(b.requests, b.wreqs, b.verified, strict=True))
        for start in range(0, len(work), self._concurrency):
            b.enqueued += await asyncio.gather(
                *(
                    handlers.enqueue(request, self._source, wreq, verified, b.received_ms)
                    for (request, _), wreq, verified in work[start : start + self._concurrency]
                )
            )

    def respond(self, b: Batch) -> None:
        for (request, _), verified, (event_id, enqueued) in zip(b.requests, b.verified, b.enqueued, strict=True):
            b.responses.append(handlers.answer(request, self._source, verified, event_id, enqueued))
        if any(r.status != 202 for r in b.responses):
            raise RuntimeError("breakdown: the ingress refused or deduplicated a request")


@contextlib.asynccontextmanager
async def _running_app(settings: IngressSettings) -> AsyncIterator[web.Application]:
    app, provider = ingress_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()  # the cleanup contexts: Redis client, backlog monitor, enqueuer
    try:
        yield app
    finally:
        await runner.cleanup()
        provider.shutdown()


async def ingress_breakdown(
    redis_url: str, prefix: str, sources_file: Path, variants: list[Variant], size: int, concurrency: int, runs: int
) -> Breakdown:
    """The breakdown against Redis at redis_url under `prefix` (the sources file's secret in the env)."""
    settings = IngressSettings(redis_url=redis_url, key_prefix=prefix, sources_file=sources_file)
    async with _running_app(settings) as app:
        steps = IngressSteps(app, variants, size, concurrency)
        return await measure(
            "ingress",
            steps.steps(),
            steps.fresh,
            size,
            runs,
            note=f"in-process, {concurrency} requests at a time; aiohttp's HTTP parsing and writing not included",
        )
