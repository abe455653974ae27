"""The webhook endpoint: verify, size-check, JSON-check, enqueue, answer. Nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import orjson
import structlog
from aiohttp import web
from opentelemetry.trace import INVALID_SPAN, SpanKind, Status, StatusCode

from reflex_common.health import Check, run_checks
from reflex_common.ids import new_event_id
from reflex_common.schemas import RawEvent
from reflex_common.telemetry import context_from, records, traceparent_of, unrecorded_traceparent
from reflex_ingress.enqueuer import Dedup, EnqueueFailed, Overloaded
from reflex_ingress.keys import BACKLOG, ENQUEUER, INGRESS_METRICS, REDIS, SETTINGS, SOURCES, TRACER
from reflex_ingress.sources.registry import Source
from reflex_ingress.sources.request import Rejected, WebhookRequest

log = structlog.get_logger("ingress")

# Headers that never travel into the stream: credentials and signatures.
_SECRET_HEADER_MARKS = ("authorization", "cookie", "token", "secret", "signature", "hmac", "password")


def _json_error(status: int, message: str, headers: dict[str, str] | None = None, **extra: object) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps({"error": message, **extra}),
        content_type="application/json",
        headers=headers,
    )


def _text(value: str) -> str:
    """Header text as aiohttp gives it (bytes that are not UTF-8 arrive as surrogates), made valid:
    such bytes become U+FFFD, so a stray Latin-1 byte in some User-Agent can never break a write."""
    return value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _headers(request: web.Request) -> dict[str, str]:
    """Lower-cased names, repeated headers joined with ", ", values as valid text."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower, value = _text(name.lower()), _text(value)
        headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    return headers


def _kept_headers(headers: dict[str, str], secret: frozenset[str]) -> dict[str, str]:
    """Headers worth keeping with the event: never credentials or signatures, whether recognised by
    name or named by the verifier (`secret`)."""
    return {
        name: value
        for name, value in headers.items()
        if name not in secret and not any(mark in name for mark in _SECRET_HEADER_MARKS)
    }


def public_url(request: web.Request) -> str:
    """The URL the sender signed: the configured base URL, or the proxy's forwarded scheme and host."""
    settings = request.app[SETTINGS]
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + request.rel_url.raw_path_qs
    scheme, host = request.scheme, request.host
    if settings.trust_forwarded_headers:
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    return f"{scheme}://{host}{request.rel_url.raw_path_qs}"


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The whole body, or None when it exceeds limit (never a truncated body)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive_webhook(request: web.Request) -> web.Response:
    started = time.perf_counter()
    app = request.app
    name = request.match_info["source"]
    source = app[SOURCES].get(name)
    metrics = app[INGRESS_METRICS]
    if source is None:
        metrics.answered("unknown", 404, started)
        return _json_error(404, f"unknown source {name!r}")
    incoming = request.headers.get("traceparent")
    tracer = app[TRACER]
    if not records(tracer, incoming):
        # Nothing would record these spans: skip them, carry a trace id all the same.
        traceparent = unrecorded_traceparent(incoming)
        with structlog.contextvars.bound_contextvars(trace_id=traceparent[3:35]):
            response = await _handle(request, source, traceparent)
    else:
        with tracer.start_as_current_span(
            f"{request.method} /api/v1/events/{{source}}",
            context=context_from(incoming),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "reflex.source": name},
        ) as span:
            response = await _handle(request, source, None)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
    metrics.answered(name, response.status, started)
    return response


async def _handle(request: web.Request, source: Source, traceparent: str | None) -> web.Response:
    """`traceparent`: the one to put on the raw entry when no spans are made; None: make them."""
    app = request.app
    settings = app[SETTINGS]
    retry_after = {"Retry-After": str(settings.retry_after_s)}
    received_ms = int(time.time() * 1000)
    limit = source.config.max_body_bytes
    body = await _read_body(request, limit)
    if body is None:
        return _json_error(413, f"body larger than {limit} bytes", max_body_bytes=limit)
    headers = _headers(request)
    wreq = WebhookRequest(
        method=request.method,
        url=public_url(request),
        headers=headers,
        query=dict(request.query),
        body=body,
        content_type=request.content_type,
    )
    now = datetime.fromtimestamp(received_ms / 1000, tz=UTC)
    try:
        if getattr(source.verifier, "may_block", False):
            # e.g. SNS fetching a signing certificate: never block the event loop on the network.
            verified = await asyncio.to_thread(source.verifier.verify, wreq, now)
        else:
            verified = source.verifier.verify(wreq, now)
    except Rejected as rejected:
        log.info("webhook_rejected", source=source.name, status=rejected.status, reason=rejected.reason)
        return _json_error(rejected.status, rejected.reason, retry_after if rejected.status == 503 else None)
    if verified.secret_index is not None:
        app[INGRESS_METRICS].secret_matches.labels(source.name, str(verified.secret_index)).inc()
    if verified.reply is not None:
        reply = verified.reply
        return web.Response(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type,
            headers={"X-Content-Type-Options": "nosniff"},  # some challenges echo the sender's text
        )
    if source.verifier.sends_json and request.content_type != "application/x-www-form-urlencoded":
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _json_error(400, f"body is not valid JSON: {exc}")
    backlog = app[BACKLOG]
    if backlog.full:
        return _json_error(429, "backlog over its bound; retry later", retry_after, backlog=backlog.entries)
    event_id = new_event_id(received_ms)
    publish = (
        app[TRACER].start_as_current_span("raw publish", kind=SpanKind.PRODUCER)
        if traceparent is None
        else contextlib.nullcontext(INVALID_SPAN)
    )
    with publish as producer:
        raw = RawEvent(
            event_id=event_id,
            source=source.name,
            kind=source.kind,
            received_at_ms=received_ms,
            body=body,
            headers=_kept_headers(headers, verified.secret_headers),
            content_type=request.content_type,
            delivery_key=verified.delivery_key,
            traceparent=traceparent or traceparent_of(producer),
        )
        horizon_s = source.verifier.dedup_horizon_s
        dedup = (
            Dedup(settings.keys.dedup_key(source.name, verified.delivery_key), horizon_s, event_id)
            if verified.delivery_key and horizon_s > 0
            else None
        )
        try:
            enqueued = await app[ENQUEUER].submit(raw.to_fields(), dedup)
        except Overloaded as exc:
            return _json_error(429, f"ingress overloaded: {exc}", retry_after)
        except EnqueueFailed as exc:
            producer.set_status(Status(StatusCode.ERROR, str(exc)))
            log.warning("webhook_not_stored", source=source.name, error=str(exc))
            return _json_error(503, "could not store the event; retry later", retry_after)
        if enqueued.duplicate_of is not None:
            # The sender retried a delivery we already stored: 200, so it stops retrying.
            app[INGRESS_METRICS].duplicates.labels(source.name).inc()
            log.info(
                "duplicate_delivery",
                source=source.name,
                delivery_key=verified.delivery_key,
                first_event_id=enqueued.duplicate_of,
            )
            return web.Response(
                status=200,
                body=orjson.dumps({"id": enqueued.duplicate_of, "duplicate": True}),
                content_type="application/json",
            )
        producer.set_attribute("messaging.message.id", enqueued.stream_id or "")
    log.debug(
        "webhook_accepted",
        source=source.name,
        event_id=event_id,
        stream_id=enqueued.stream_id,
        delivery_key=verified.delivery_key,
    )
    return web.Response(status=202, body=orjson.dumps({"id": event_id}), content_type="application/json")


async def livez(request: web.Request) -> web.Response:
    alive = request.app[ENQUEUER].alive
    return _json_error(503, "enqueuer stopped") if not alive else web.json_response({"alive": True})


def ready_checks(app: web.Application) -> dict[str, Check]:
    """Readiness of the ingress, for its webhook port's /readyz and its health port's alike: Redis
    answers and the raw stream's backlog is known (false until the app has started)."""

    async def redis() -> bool:
        return REDIS in app and bool(await app[REDIS].ping())

    async def backlog_known() -> bool:
        return BACKLOG in app and app[BACKLOG].healthy

    return {"redis": redis, "backlog_known": backlog_known}


async def readyz(request: web.Request) -> web.Response:
    checks = await run_checks(ready_checks(request.app))
    ok = all(checks.values())
    return web.Response(
        status=200 if ok else 503, body=orjson.dumps({"ready": ok, "checks": checks}), content_type="application/json"
    )
