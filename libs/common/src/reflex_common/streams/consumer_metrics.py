"""Prometheus metrics of the consumer loop. Names are typed in one Literal."""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

EntryOutcome = Literal["done", "invalid", "failed", "dead_lettered", "trimmed", "reclaimed"]


class ConsumerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.entries = Counter(
            "reflex_consumer_entries_total",
            "Stream entries by what happened to them.",
            ["stream", "group", "outcome"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            "reflex_consumer_batch_seconds",
            "Time to handle and commit one batch.",
            ["stream", "group"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.transient_errors = Counter(
            "reflex_consumer_transient_errors_total",
            "Transient failures (dependency down); the work is retried and not counted toward the DLQ.",
            ["stream", "group"],
            registry=registry,
        )
        self.groups_recreated = Counter(
            "reflex_consumer_group_recreated_total",
            "Times the consumer group was found missing (NOGROUP) and created again from the stream's start.",
            ["stream", "group"],
            registry=registry,
        )
        self.dlq_dropped = Counter(
            "reflex_stream_dlq_dropped_total",
            "Dead letters lost to the dead-letter stream's own MAXLEN (DLQ_MAXLEN); should stay 0.",
            ["stream", "group"],
            registry=registry,
        )
        self.breaker_open = Gauge(
            "reflex_consumer_breaker_open",
            "1 while the dead-letter circuit breaker holds the consumer (too many dead letters); 0 otherwise.",
            ["stream", "group"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "reflex_consumer_in_flight_entries",
            "Entries held by this consumer.",
            ["stream", "group"],
            registry=registry,
        )

    def count(self, stream: str, group: str, outcome: EntryOutcome, n: int = 1) -> None:
        if n:
            self.entries.labels(stream, group, outcome).inc(n)
