"""The webhook endpoint as steps: find the source, read, verify, answer a challenge, check, enqueue,
answer. Each step returns a value or raises `Rejected` (or a `TransientError`), which the error
middleware renders; tracing and request metrics live in the middleware too."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import structlog
from aiohttp import web
from multidict import CIMultiDict
from opentelemetry.trace import SpanKind, Status, StatusCode

from reflex_common.health import Check, run_checks
from reflex_common.ids import new_event_id
from reflex_common.schemas import RawEvent
from reflex_common.telemetry import traceparent_of
from reflex_ingress.body import decode_body, read_body
from reflex_ingress.connections import SERVER_NAME
from reflex_ingress.enqueuer import Dedup, Enqueued, EnqueueFailed, Overloaded
from reflex_ingress.keys import (
    BACKLOG,
    BUDGET,
    ENQUEUER,
    INGRESS_METRICS,
    OFFLOAD,
    REDIS,
    SETTINGS,
    SOURCES,
    TRACEPARENT,
    TRACER,
)
from reflex_ingress.openapi import document_bytes
from reflex_ingress.sources.registry import Source
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.verifier import FORM_CONTENT_TYPE, body_key, check_form, check_json

log = structlog.get_logger("ingress")
OPENAPI = document_bytes()

MAX_HEADER_VALUE_CHARS = 1024
MAX_KEPT_HEADER_CHARS = 4096
# Headers that never travel into the stream: credentials and signatures.
_SECRET_HEADER_MARKS = ("authorization", "cookie", "token", "secret", "signature", "hmac", "password")


# Every answer's headers start from these (copied in C): our `Server` (no version), the content type.
_JSON_HEADERS = CIMultiDict({"Server": SERVER_NAME, "Content-Type": "application/json"})
_PLAIN_HEADERS = CIMultiDict({"Server": SERVER_NAME})


def json_response(status: int, payload: dict[str, object], headers: dict[str, str] | None = None) -> web.Response:
    response = web.Response(status=status, body=orjson.dumps(payload), headers=_JSON_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def accepted(event_id: str) -> web.Response:
    """The 202 of a stored event, its body pre-encoded around the id (a UUID: nothing to escape)."""
    return web.Response(status=202, body=b'{"id":"' + event_id.encode() + b'"}', headers=_JSON_HEADERS)


def _text(value: str) -> str:
    """Header text as aiohttp gives it (bytes that are not UTF-8 arrive as surrogates), made valid:
    such bytes become U+FFFD, so a stray Latin-1 byte in some User-Agent can never break a write."""
    return value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _headers(request: web.Request) -> dict[str, str]:
    """Lower-cased names, repeated headers joined with ", ", values as valid text."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        # The common case inline (ASCII, as nearly every header is): _text only for the others.
        lower = name.lower() if name.isascii() else _text(name.lower())
        if not value.isascii():
            value = _text(value)
        headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    return headers


@functools.cache
def _looks_secret(name: str) -> bool:
    """Whether a header name says it carries a credential. Cached: only ever called with names from a
    source's allow-list (configuration), never with a sender's made-up names."""
    return any(mark in name for mark in _SECRET_HEADER_MARKS)


def kept_headers(headers: Mapping[str, str], allowed: frozenset[str], secret: frozenset[str]) -> dict[str, str]:
    """The headers stored with the event: only the source's allow-list, never credentials or
    signatures (recognised by name or named by the verifier in `secret`), each value at most
    MAX_HEADER_VALUE_CHARS, all of them at most MAX_KEPT_HEADER_CHARS."""
    kept: dict[str, str] = {}
    total = 0
    for name, value in headers.items():
        if name not in allowed or name in secret or _looks_secret(name):
            continue
        value = value[:MAX_HEADER_VALUE_CHARS]
        total += len(name) + len(value)
        if total > MAX_KEPT_HEADER_CHARS:
            break
        kept[name] = value
    return kept


def public_url(request: web.Request) -> str:
    """The URL the sender signed (Twilio): PUBLIC_BASE_URL + path, or, only when the operator says to
    trust the proxy, its X-Forwarded-Proto/Host. Never the request's own Host header; without either
    setting, a URL that no signature can match."""
    settings = request.app[SETTINGS]
    path = request.rel_url.raw_path_qs
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + path
    if settings.trust_forwarded_headers:
        scheme = _text(request.headers.get("X-Forwarded-Proto", "https")).split(",")[0].strip()
        host = _text(request.headers.get("X-Forwarded-Host", "")).split(",")[0].strip()
        return f"{scheme}://{host}{path}"
    return f"unconfigured://public-base-url{path}"


def find_source(request: web.Request) -> Source:
    source = request.app[SOURCES].get(request.match_info["source"])
    if source is None:
        raise Rejected(404, "unknown source")
    return source


def webhook_request(request: web.Request, body: bytes) -> WebhookRequest:
    return WebhookRequest(
        method=request.method,
        url=public_url(request),
        headers=_headers(request),
        query=dict(request.query),
        body=body,
        content_type=request.content_type,
    )


async def verify(request: web.Request, source: Source, wreq: WebhookRequest, now: datetime) -> Verified:
    """The verifier's verdict; one that may block (a certificate fetch, a large form) runs in a
    worker thread, a few at a time per source."""
    if source.verifier.may_block(wreq):
        slots = request.app[OFFLOAD][source.name]
        async with slots:
            verified = await asyncio.to_thread(source.verifier.verify, wreq, now)
    else:
        verified = source.verifier.verify(wreq, now)
    if verified.secret_index is not None:
        request.app[INGRESS_METRICS].secret_matched(source.name, verified.secret_index)
    return verified


def challenge_reply(reply: Reply) -> web.Response:
    """A provider's endpoint challenge, answered at once; nothing is queued."""
    response = web.Response(
        status=reply.status, body=reply.body, content_type=reply.content_type, headers=_PLAIN_HEADERS
    )
    response.headers["X-Content-Type-Options"] = "nosniff"  # some challenges echo the sender's text
    return response


def check_body(source: Source, wreq: WebhookRequest) -> None:
    """Only what the processor can store (400 otherwise): a form body that is UTF-8, within the kind's
    parameter count and free of NULs; for kinds that send JSON, JSON no deeper than the store takes."""
    if wreq.content_type == FORM_CONTENT_TYPE:
        check_form(wreq.body, source.max_form_params)
    elif source.verifier.sends_json:
        check_json(wreq.body)


async def enqueue(
    request: web.Request, source: Source, wreq: WebhookRequest, verified: Verified, received_ms: int
) -> tuple[str, Enqueued]:
    """The raw entry in the stream (or found a duplicate): (event id, what the enqueuer did)."""
    app = request.app
    settings = app[SETTINGS]
    backlog = app[BACKLOG]
    if backlog.full:
        raise Rejected(
            429,
            "backlog over its bound; retry later",
            retry_after_s=settings.retry_after_s,
            extra={"backlog": backlog.entries},
        )
    event_id = new_event_id(received_ms)
    delivery_key = body_key(wreq.body) if source.config.dedup_on_body else verified.delivery_key
    horizon_s = source.verifier.dedup_horizon_s
    dedup = (
        Dedup(settings.keys.dedup_key(source.name, delivery_key), horizon_s, event_id)
        if delivery_key and horizon_s > 0
        else None
    )
    fields = functools.partial(raw_fields, source, wreq, verified, event_id, received_ms, delivery_key)
    traceparent = request[TRACEPARENT]
    if traceparent:  # nothing records spans: the trace id the middleware made travels on
        return event_id, await _submit(app, fields(traceparent), dedup)
    with app[TRACER].start_as_current_span("raw publish", kind=SpanKind.PRODUCER) as producer:
        try:
            enqueued = await _submit(app, fields(traceparent_of(producer)), dedup)
        except EnqueueFailed as exc:
            producer.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        producer.set_attribute("messaging.message.id", enqueued.stream_id or "")
    return event_id, enqueued


def raw_fields(
    source: Source,
    wreq: WebhookRequest,
    verified: Verified,
    event_id: str,
    received_ms: int,
    delivery_key: str | None,
    traceparent: str | None,
) -> dict[str, bytes]:
    """The raw stream entry of a verified request."""
    return RawEvent(
        event_id=event_id,
        source=source.name,
        kind=source.kind,
        received_at_ms=received_ms,
        body=verified.stored_body if verified.stored_body is not None else wreq.body,
        headers=kept_headers(wreq.headers, source.kept_headers, verified.secret_headers),
        content_type=wreq.content_type,
        delivery_key=delivery_key,
        traceparent=traceparent,
    ).to_fields()


async def _submit(app: web.Application, fields: dict[str, bytes], dedup: Dedup | None) -> Enqueued:
    try:
        return await app[ENQUEUER].submit(fields, dedup)
    except Overloaded as exc:
        raise Rejected(429, "ingress overloaded; retry later", retry_after_s=app[SETTINGS].retry_after_s) from exc


def answer(request: web.Request, source: Source, verified: Verified, event_id: str, enqueued: Enqueued) -> web.Response:
    if enqueued.duplicate_of is not None:
        # The sender retried a delivery we already stored: 200, so it stops retrying.
        request.app[INGRESS_METRICS].duplicates.labels(source.name).inc()
        log.info(
            "duplicate_delivery",
            source=source.name,
            delivery_key=verified.delivery_key,
            first_event_id=enqueued.duplicate_of,
        )
        return json_response(200, {"id": enqueued.duplicate_of, "duplicate": True})
    log.debug("webhook_accepted", source=source.name, event_id=event_id, stream_id=enqueued.stream_id)
    return accepted(event_id)


async def receive_webhook(request: web.Request) -> web.Response:
    received_ms = int(time.time() * 1000)
    source = find_source(request)
    with request.app[BUDGET].hold() as hold:  # the body's bytes count until the answer
        body = await read_body(request, source, hold)
        wreq = webhook_request(request, body)
        verified = await verify(request, source, wreq, datetime.fromtimestamp(received_ms / 1000, tz=UTC))
        if verified.reply is not None:
            return challenge_reply(verified.reply)
        data = decode_body(request, source, body, hold)
        if data is not body:
            wreq = replace(wreq, body=data)
        check_body(source, wreq)
        event_id, enqueued = await enqueue(request, source, wreq, verified, received_ms)
        return answer(request, source, verified, event_id, enqueued)


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=OPENAPI, headers=_JSON_HEADERS)


async def livez(request: web.Request) -> web.Response:
    if not request.app[ENQUEUER].alive:
        raise Rejected(503, "enqueuer stopped")
    return json_response(200, {"alive": True})


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
    return json_response(200 if ok else 503, {"ready": ok, "checks": checks})
