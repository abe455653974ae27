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
        # The labelled children per (source, status), looked up once: `labels()` costs a lock and
        # a tuple of str per call. Bounded: configured sources (or "unknown") times HTTP statuses.
        self._request_children: dict[tuple[str, int], tuple[Counter, Histogram]] = {}
        self._match_children: dict[tuple[str, int], Counter] = {}
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
            multiprocess_mode="livemax",  # INGRESS_WORKERS > 1: every worker measures the same stream
        )

    def request_done(self, source: str, status: int, duration_s: float) -> None:
        """Count a webhook request and observe its duration."""
        children = self._request_children.get((source, status))
        if children is None:
            text = str(status)
            children = (self.requests.labels(source, text), self.duration.labels(source, text))
            self._request_children[(source, status)] = children
        children[0].inc()
        children[1].observe(duration_s)

    def secret_matched(self, source: str, index: int) -> None:
        """Count a verified request by which configured secret matched."""
        child = self._match_children.get((source, index))
        if child is None:
            child = self._match_children[(source, index)] = self.secret_matches.labels(source, str(index))
        child.inc()
