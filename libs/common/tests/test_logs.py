from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider

from reflex_common.logs import add_trace_ids


def test_lines_logged_inside_a_span_carry_its_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("t")
    assert "trace_id" not in add_trace_ids(None, "info", {"event": "outside"})
    with tracer.start_as_current_span("work") as span:
        line = add_trace_ids(None, "info", {"event": "inside"})
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
