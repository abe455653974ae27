"""Prometheus metrics of the ingress."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngressMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "reflex_ingress_requests_total",
            "Webhook requests by source and HTTP status.",
            ["source", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "reflex_ingress_request_duration_seconds",
            "Webhook requests by source and HTTP status: time from the handler's start to its answer.",
            ["source", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.secret_matches = Counter(
            "reflex_ingress_secret_matches_total",
            "Verified requests by which configured secret matched (by index), to follow a rotation.",
            ["source", "secret_index"],
            registry=registry,
        )
        self.duplicates = Counter(
            "reflex_ingress_duplicates_total",
            "Repeats of a delivery key within the source's dedup horizon, answered 200 and not stored.",
            ["source"],
            registry=registry,
        )
        self.backlog = Gauge(
            "reflex_ingress_raw_backlog_entries",
            "Unacked entries of the raw stream (largest group).",
            registry=registry,
        )
