from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from reflex_common.telemetry import context_from, create_tracer_provider, traceparent_of


@pytest.mark.usefixtures("no_trace_export")
def test_without_an_exporter_spans_are_not_recorded_but_trace_ids_still_propagate() -> None:
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


def test_consumer_span_is_skipped_for_unsampled_traces_and_made_for_sampled_ones() -> None:
    from reflex_common.telemetry import consumer_span

    exporter = InMemorySpanExporter()
    tracer = create_tracer_provider("t", [SimpleSpanProcessor(exporter)]).get_tracer("t")
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    unsampled = f"00-{trace_id}-{parent_id}-00".encode()
    with consumer_span(tracer, "process", {"traceparent": unsampled}, {}) as carried:
        assert carried == unsampled.decode()  # the same trace travels on
    assert exporter.get_finished_spans() == ()

    sampled = f"00-{trace_id}-{parent_id}-01".encode()
    with consumer_span(tracer, "process", {"traceparent": sampled}, {"messaging.message.id": "1-0"}) as carried:
        assert carried is not None and carried.startswith(f"00-{trace_id}-") and carried.endswith("-01")
    (span,) = exporter.get_finished_spans()
    assert span.parent is not None and format(span.parent.span_id, "016x") == parent_id
    assert format(span.context.trace_id, "032x") == trace_id

    with consumer_span(tracer, "process", {}, {}) as carried:  # no parent: a new trace
        assert carried is not None


async def test_spans_are_exported_over_otlp_http_when_the_standard_variables_say_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestServer

    received: list[tuple[str, str, bytes]] = []

    async def collect(request: web.Request) -> web.Response:
        received.append((request.path, request.content_type, await request.read()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/traces", collect)
    async with TestServer(app) as server:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", str(server.make_url("")).rstrip("/"))
        monkeypatch.setenv("OTEL_SERVICE_NAME", "reflex-test-service")
        provider = create_tracer_provider("fallback-name")
        with provider.get_tracer("t").start_as_current_span("exported-span"):
            pass
        await asyncio.to_thread(provider.shutdown)  # flushes the batch processor
    assert [(path, ctype) for path, ctype, _ in received] == [("/v1/traces", "application/x-protobuf")]
    assert b"exported-span" in received[0][2] and b"reflex-test-service" in received[0][2]


@pytest.mark.usefixtures("no_trace_export")
def test_records_is_false_only_when_nothing_could_record() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from reflex_common.telemetry import records, unrecorded_traceparent

    sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    unsampled = sampled[:-2] + "00"
    silent = create_tracer_provider("t").get_tracer("t")
    assert (records(silent, None), records(silent, unsampled), records(silent, sampled)) == (False, False, True)
    default = TracerProvider().get_tracer("t")  # parent-based, always on for new traces
    assert (records(default, None), records(default, unsampled), records(default, sampled)) == (True, False, True)
    carried = unrecorded_traceparent(unsampled)
    assert carried[3:35] == sampled[3:35] and carried.endswith("-00") and carried != unsampled
    assert len(unrecorded_traceparent("garbage")) == 55
