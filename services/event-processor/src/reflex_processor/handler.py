"""The event-processor's batch handler: normalize, persist, forward."""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram
from psycopg_pool import AsyncConnectionPool

from reflex_common.db import transient_db
from reflex_common.errors import InvalidMessage
from reflex_common.metrics_registry import LATENCY_BUCKETS_S, observe_since_received
from reflex_common.schemas import RawEvent
from reflex_common.schemas.domain_event import event_fields
from reflex_common.streams import Entry, Outcome, Outgoing
from reflex_common.telemetry import BatchSpans
from reflex_processor.event import StoredEvent
from reflex_processor.normalizer import normalize
from reflex_processor.store import store_events


class ProcessorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "reflex_processor_events_total",
            "Domain events by source and outcome (stored, or duplicate: already in Postgres).",
            ["source", "outcome"],
            registry=registry,
        )
        self.received_to_persisted = Histogram(
            "reflex_processor_received_to_persisted_seconds",
            "Time from the ingress receiving an event to its row committed in Postgres, by source.",
            ["source"],
            registry=registry,
            buckets=LATENCY_BUCKETS_S,
        )


class EventHandler:
    def __init__(
        self, pool: AsyncConnectionPool, tracer: Tracer, metrics: ProcessorMetrics, events_stream: str, maxlen: int
    ) -> None:
        self._pool = pool
        self._tracer = tracer
        self._metrics = metrics
        self._events_stream = events_stream
        self._maxlen = maxlen
        self._log = structlog.get_logger("processor")

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        outcome = Outcome()
        ready: list[tuple[Entry, StoredEvent, str]] = []
        spans = BatchSpans(self._tracer, "raw process")
        try:
            for entry in entries:
                traceparent, span = spans.start(
                    entry.fields.get("traceparent"),
                    {"messaging.message.id": entry.id, "messaging.destination.name": "raw"},
                )
                try:
                    event = normalize(RawEvent.from_fields(entry.fields))
                except InvalidMessage as exc:
                    outcome.invalid[entry.id] = str(exc)
                    continue
                except (RecursionError, ValueError) as exc:
                    # An adapter or encoder that cannot take this body: retrying cannot help.
                    outcome.invalid[entry.id] = f"cannot be stored: {type(exc).__name__}"
                    continue
                if span is not None:
                    span.set_attribute("reflex.event_id", event.event_id)
                ready.append((entry, event, traceparent))
            if ready:
                with transient_db():
                    async with self._pool.connection() as conn, conn.transaction():
                        stored = await store_events(conn, [(entry.id, event) for entry, event, _ in ready])
        finally:
            spans.end()
        counts: dict[tuple[str, str], int] = {}
        received_ms: dict[str, list[int]] = {}
        for entry, event, traceparent in ready:
            outcome.done.append(entry.id)
            if event.event_id in stored:
                outcome.forward.append(Outgoing(self._events_stream, event_fields(event, traceparent), self._maxlen))
                counts[event.source, "stored"] = counts.get((event.source, "stored"), 0) + 1
                received_ms.setdefault(event.source, []).append(event.received_at_ms)
            else:
                counts[event.source, "duplicate"] = counts.get((event.source, "duplicate"), 0) + 1
                self._log.info(
                    "duplicate_delivery",
                    event_id=event.event_id,
                    source=event.source,
                    delivery_key=event.delivery_key,
                    trace_id=traceparent[3:35],
                )
        # One increment per (source, outcome) and batch: labels() takes a lock and hashes every time.
        for (source, result), n in counts.items():
            self._metrics.events.labels(source, result).inc(n)
        observe_since_received(self._metrics.received_to_persisted, received_ms)
        return outcome
