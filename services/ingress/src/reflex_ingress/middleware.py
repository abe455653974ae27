"""The request path's middleware: `observe` (tracing and request metrics) around `refusals` (the one
place where a refusal becomes an HTTP answer)."""

from __future__ import annotations

import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from opentelemetry.trace import SpanKind, Status, StatusCode

from reflex_common.errors import TransientError
from reflex_common.telemetry import context_from, records, unrecorded_traceparent
from reflex_ingress.handlers import json_response
from reflex_ingress.keys import INGRESS_METRICS, LOG_THROTTLE, SETTINGS, SOURCES, TRACEPARENT, TRACER
from reflex_ingress.sources.request import Rejected

# aiohttp's own refusals (no route, wrong method, ...) in our words.
_HTTP_REASONS = {404: "no such endpoint", 405: "method not allowed", 413: "body too large"}


def render(refusal: Rejected) -> web.Response:
    headers = {"Retry-After": str(refusal.retry_after_s)} if refusal.retry_after_s is not None else None
    response = json_response(refusal.status, {"error": refusal.reason, **refusal.extra}, headers)
    if refusal.close:
        response.force_close()  # a body left unread is never read into memory
    return response


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rejected → its status; TransientError → 503 + Retry-After; aiohttp's HTTP errors → JSON in our
    words; anything else → 500, logged."""
    try:
        return await handler(request)
    except Rejected as refusal:
        source, throttle = _source_label(request), request.app[LOG_THROTTLE]
        kind = ("webhook_refused", source, refusal.status, refusal.reason)
        throttle.emit("info", "webhook_refused", kind, source=source, status=refusal.status, reason=refusal.reason)
        return render(refusal)
    except TransientError as exc:
        source, throttle = _source_label(request), request.app[LOG_THROTTLE]
        throttle.emit("warning", "webhook_not_stored", ("webhook_not_stored", type(exc)), source=source, error=str(exc))
        return render(Rejected(503, "cannot take the event now; retry later", retry_after_s=_retry_after(request)))
    except web.HTTPException as exc:
        response = render(Rejected(exc.status, _HTTP_REASONS.get(exc.status, exc.reason.lower())))
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception as exc:
        source, throttle = _source_label(request), request.app[LOG_THROTTLE]
        throttle.emit("error", "request_failed", ("request_failed", type(exc)), source=source, exc_info=exc)
        return render(Rejected(500, "internal error", close=True))


def _source_label(request: web.Request) -> str | None:
    """The source named in the path, if any. Only configured names go into logs and throttle kinds:
    a flood of made-up names stays one kind."""
    name = request.match_info.get("source")
    return name if name is None or name in request.app[SOURCES] else "unknown"


def _retry_after(request: web.Request) -> int:
    return request.app[SETTINGS].retry_after_s


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """For webhook requests: the server span (when anything records it, else a trace id bound to the
    log lines and carried on the raw entry), the request counter and the duration histogram."""
    name = request.match_info.get("source")
    if name is None:
        return await handler(request)
    app = request.app
    label = name if name in app[SOURCES] else "unknown"
    started = time.perf_counter()
    incoming = request.headers.get("traceparent")
    tracer = app[TRACER]
    if not records(tracer, incoming):
        # Nothing would record these spans: skip them, carry a trace id all the same.
        traceparent = unrecorded_traceparent(incoming)
        request[TRACEPARENT] = traceparent
        # bind + reset by token: bound_contextvars would copy every bound variable to restore them.
        tokens = structlog.contextvars.bind_contextvars(trace_id=traceparent[3:35])
        try:
            response = await handler(request)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
    else:
        request[TRACEPARENT] = ""
        with tracer.start_as_current_span(
            f"{request.method} /api/v1/events/{{source}}",
            context=context_from(incoming),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "reflex.source": label},
        ) as span:
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
    app[INGRESS_METRICS].request_done(label, response.status, time.perf_counter() - started)
    return response
