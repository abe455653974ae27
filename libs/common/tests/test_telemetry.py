from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from reflex_common.telemetry import context_from, create_tracer_provider, traceparent_of


def test_without_an_exporter_spans_are_not_recorded_but_trace_ids_still_propagate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_SAMPLER",
    ):
        monkeypatch.delenv(var, raising=False)
    tracer = create_tracer_provider("t").get_tracer("t")
    with tracer.start_as_current_span("ingress") as first:
        assert not first.is_recording()
        carried = traceparent_of(first)
    assert carried is not None
    with tracer.start_as_current_span("processor", context=context_from(carried)) as second:
        assert second.get_span_context().trace_id == first.get_span_context().trace_id


def test_with_a_span_processor_spans_are_recorded() -> None:
    exporter = InMemorySpanExporter()
    tracer = create_tracer_provider("t", [SimpleSpanProcessor(exporter)]).get_tracer("t")
    with tracer.start_as_current_span("work"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["work"]
