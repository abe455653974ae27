"""Prometheus metrics of the metric-worker: how late its counts are, and what the window closer sends."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from reflex_common.metrics_registry import LATENCY_BUCKETS_S


class MetricWorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.received_to_counted = Histogram(
            "reflex_metric_worker_received_to_counted_seconds",
            "Time from the ingress receiving an event to its count committed in metric_counts, by source.",
            ["source"],
            registry=registry,
            buckets=LATENCY_BUCKETS_S,
        )
        self.windows_closed = Counter(
            "reflex_metric_worker_windows_closed_total",
            "Count windows closed and sent to the anomaly-detector for the first time (revision 0).",
            registry=registry,
        )
        self.window_revisions = Counter(
            "reflex_metric_worker_window_revisions_total",
            "Closed windows sent again because late events changed their count.",
            registry=registry,
        )
        self.late_events = Counter(
            "reflex_metric_worker_late_events_total",
            "Events counted into a window that had already been sent (it is sent again as a revision), by source.",
            ["source"],
            registry=registry,
        )
