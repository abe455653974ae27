"""Tracing (OpenTelemetry) and the W3C traceparent that every stream entry carries.

No global tracer provider: each service's main() builds one and passes the tracer down, and tests
build one with an in-memory exporter.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, Sampler
from opentelemetry.trace import Link, Span, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


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
        sampler = ParentBased(ALWAYS_OFF)
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


def entry_context(fields: Mapping[str, bytes]) -> Context | None:
    return context_from(fields.get("traceparent"))


def link_to(traceparent: str | bytes | None) -> list[Link]:
    ctx = context_from(traceparent)
    return [Link(trace.get_current_span(ctx).get_span_context())] if ctx is not None else []


def tracer_of(provider: TracerProvider, name: str) -> Tracer:
    return provider.get_tracer(name)


def _unsampled(traceparent: bytes | None) -> bool:
    """True for a well-formed W3C traceparent whose sampled flag is off."""
    if traceparent is None or len(traceparent) != 55:
        return False
    try:
        return not int(traceparent[53:55], 16) & 0x01
    except ValueError:
        return False


@contextlib.contextmanager
def consumer_span(
    tracer: Tracer, name: str, fields: Mapping[str, bytes], attributes: Mapping[str, str]
) -> Iterator[str | None]:
    """A CONSUMER span for one stream entry, child of the producer that wrote it; yields the
    traceparent to put on what this entry produces.

    When the entry's trace is not sampled and the sampler follows its parent (every standard
    configuration), no span would record: none is made, and the entry's own traceparent travels on,
    so the trace id still runs end to end — at a fraction of the cost of a non-recording span."""
    parent = fields.get("traceparent")
    if _unsampled(parent) and isinstance(getattr(tracer, "sampler", None), ParentBased):
        assert parent is not None
        yield parent.decode()
        return
    with tracer.start_as_current_span(
        name, context=context_from(parent), kind=SpanKind.CONSUMER, attributes=dict(attributes)
    ) as span:
        yield traceparent_of(span)
