"""Tracing (OpenTelemetry) and the W3C traceparent that every stream entry carries.

No global tracer provider: each service's main() builds one and passes the tracer down, and tests
build one with an in-memory exporter.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping

import structlog
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


class NothingExported(ParentBased):
    """The sampler of a provider whose spans go nowhere: new traces unsampled, parents followed.
    Seeing it, the services skip making spans that could never record (see `records`)."""

    def __init__(self) -> None:
        super().__init__(ALWAYS_OFF)


def create_tracer_provider(service_name: str, processors: list[SpanProcessor] | None = None) -> TracerProvider:
    """A provider for one service. Exports over OTLP/HTTP when the standard OTEL_* variables ask for
    it (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=otlp); otherwise spans are made (trace ids
    still propagate) but not exported."""
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    wants_otlp = os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "otlp" or bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    exporting = wants_otlp and os.environ.get("OTEL_SDK_DISABLED", "").lower() != "true"
    sampler: Sampler | None = None  # None: the SDK honours OTEL_TRACES_SAMPLER (default: parent-based, on)
    if not exporting and not processors and "OTEL_TRACES_SAMPLER" not in os.environ:
        # Nobody receives spans: make them non-recording (a quarter of the ingress's and processor's CPU
        # otherwise). Trace ids still propagate through every stream entry and appear in the logs.
        sampler = NothingExported()
    provider = TracerProvider(resource=resource, sampler=sampler)
    for processor in processors or []:
        provider.add_span_processor(processor)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def traceparent_of(span: Span) -> str | None:
    """The W3C traceparent header value that makes `span` the parent of the next hop."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_from(traceparent: str | bytes | None) -> Context | None:
    """The remote parent context carried by a stream entry or HTTP header, if any."""
    if not traceparent:
        return None
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode(errors="replace")
    ctx = _PROPAGATOR.extract({"traceparent": traceparent})
    span_context = trace.get_current_span(ctx).get_span_context()
    return ctx if span_context.is_valid else None


_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _sampled_flag(traceparent: bytes | str | None) -> bool | None:
    """The sampled flag of a well-formed W3C traceparent; None when there is none or it is malformed."""
    if traceparent is None or len(traceparent) != 55:
        return None
    text = traceparent.decode(errors="replace") if isinstance(traceparent, bytes) else traceparent
    if not _TRACEPARENT.fullmatch(text):
        return None
    return bool(int(text[53:55], 16) & 0x01)


def records(tracer: Tracer, traceparent: bytes | str | None) -> bool:
    """Whether a span started under this (incoming) traceparent would record. False only when that is
    certain: the parent is unsampled and the sampler follows parents (every standard configuration),
    or there is no sampled parent and nothing is exported at all."""
    return _records(tracer, _sampled_flag(traceparent))


def _records(tracer: Tracer, flag: bool | None) -> bool:
    sampler = getattr(tracer, "sampler", None)
    if isinstance(sampler, NothingExported):
        return bool(flag)
    return not (flag is False and isinstance(sampler, ParentBased))


def unrecorded_traceparent(parent: bytes | str | None) -> str:
    """The traceparent to pass on where no span is made: the parent's trace (or a new one) with a
    new span id, unsampled — trace ids still run end to end and join log lines."""
    text = parent.decode(errors="replace") if isinstance(parent, bytes) else parent
    trace_id = text[3:35] if text is not None and _sampled_flag(text) is not None else os.urandom(16).hex()
    return f"00-{trace_id}-{os.urandom(8).hex()}-00"


def carried_traceparent(parent: bytes | str | None) -> str:
    """The traceparent to pass on for an entry whose span would not record: its own when it is
    well-formed (the trace id runs on), else a new unsampled trace's."""
    if parent and _sampled_flag(parent) is not None:
        return parent.decode() if isinstance(parent, bytes) else parent
    return unrecorded_traceparent(None)


def _header_of(span: Span) -> str:
    """traceparent_of without the propagator's dict and context: the W3C header of a valid span."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


@contextlib.contextmanager
def consumer_span(
    tracer: Tracer, name: str, fields: Mapping[str, bytes], attributes: Mapping[str, str]
) -> Iterator[str | None]:
    """A CONSUMER span for one stream entry, child of the producer that wrote it; yields the
    traceparent to put on what this entry produces.

    Where no span would record (see `records`), none is made — it would cost a quarter of the
    processor's CPU for nothing — and the entry's own traceparent travels on, so the trace id still
    runs end to end; it is bound to the log lines meanwhile."""
    parent = fields.get("traceparent")
    if not records(tracer, parent):
        carried = carried_traceparent(parent)
        with structlog.contextvars.bound_contextvars(trace_id=carried[3:35]):
            yield carried
        return
    with tracer.start_as_current_span(
        name, context=context_from(parent), kind=SpanKind.CONSUMER, attributes=dict(attributes)
    ) as span:
        yield traceparent_of(span)


class BatchSpans:
    """CONSUMER spans for the entries of one batch, for handlers that work on the batch as a whole:
    `start` per entry returns the traceparent to put on what it produces (and the span, if one was
    made), `end` ends them all once the batch is done. Spans are made only where they would record
    (see `records`): an unsampled entry costs one check and passes its own traceparent on, with no
    span, context or log binding of its own. The trace id runs end to end either way."""

    def __init__(self, tracer: Tracer, name: str) -> None:
        self._tracer = tracer
        self._name = name
        self._spans: list[Span] = []

    def start(self, parent: bytes | str | None, attributes: Mapping[str, str]) -> tuple[str, Span | None]:
        flag = _sampled_flag(parent)  # once: the check and the header passed on both need it
        if not _records(self._tracer, flag):
            if parent and flag is not None:
                return (parent.decode() if isinstance(parent, bytes) else parent), None
            return unrecorded_traceparent(None), None
        span = self._tracer.start_span(
            self._name, context=context_from(parent), kind=SpanKind.CONSUMER, attributes=attributes
        )
        self._spans.append(span)
        return _header_of(span), span

    def end(self) -> None:
        for span in self._spans:
            span.end()
        self._spans.clear()
