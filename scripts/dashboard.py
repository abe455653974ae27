"""The Grafana dashboard of deploy/monitoring/grafana/reflexagent.json, as code: rows of panels, each
a PromQL query or a few. `scripts/render_monitoring.py` writes it (and its ConfigMap) from here."""

from __future__ import annotations

from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
SOURCE = 'source=~"$source"'
WIDTH = 24  # Grafana's grid is 24 columns wide


def _target(expr: str, legend: str, ref: int) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + ref)}


def timeseries(
    title: str, queries: list[tuple[str, str]], unit: str, description: str, *, stack: bool = False
) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [_target(expr, legend, i) for i, (expr, legend) in enumerate(queries)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "min": 0,
                "custom": {
                    "drawStyle": "line",
                    "lineWidth": 1,
                    "fillOpacity": 10,
                    "showPoints": "never",
                    "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                },
            },
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(title: str, expr: str, unit: str, description: str, *, red_from: float = 1) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [_target(expr, "", 0)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {
                    "mode": "absolute",
                    "steps": [{"color": "green", "value": None}, {"color": "red", "value": red_from}],
                },
            },
            "overrides": [],
        },
        "options": {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background", "textMode": "value"},
    }


def _quantiles(metric: str, by: str, selector: str = "") -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
            f"p{int(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.99)
    ]


def _per_stream(metric: str) -> list[tuple[str, str]]:
    return [(f"max by (stream, group) ({metric})", "{{stream}} / {{group}}")]


ROWS: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "Ingress",
        [
            timeseries(
                "Requests by source and status",
                [
                    (
                        f"sum by (source, status) (rate(reflex_ingress_requests_total{{{SOURCE}}}[{RATE}]))",
                        "{{source}} {{status}}",
                    )
                ],
                "reqps",
                "Webhook answers per second. 202 stored, 200 duplicate, 401/403 verification failed, "
                "429 backpressure, 503 Redis could not take the write.",
                stack=True,
            ),
            timeseries(
                "Request latency",
                _quantiles("reflex_ingress_request_duration_seconds", "source", SOURCE),
                "s",
                "Time from routing a webhook request to its answer (verify, enqueue, Redis write).",
            ),
            timeseries(
                "Share of deliveries failing verification",
                [
                    (
                        f'sum by (source) (rate(reflex_ingress_requests_total{{{SOURCE},status=~"401|403"}}[{RATE}]))'
                        f" / sum by (source) (rate(reflex_ingress_requests_total{{{SOURCE}}}[{RATE}]))",
                        "{{source}}",
                    )
                ],
                "percentunit",
                "401/403 over all requests, per source: a sender that rotated its secret, or a proxy "
                "rewriting bodies (alert: ReflexSourceVerificationFailing).",
            ),
            timeseries(
                "Raw backlog seen by the ingress",
                [("max(reflex_ingress_raw_backlog_entries)", "backlog")],
                "short",
                "Lag + pending of the raw stream's largest group; over MAX_BACKLOG_ENTRIES the ingress answers 429.",
            ),
        ],
    ),
    (
        "End-to-end latency",
        [
            timeseries(
                "Received → persisted (event-processor)",
                _quantiles("reflex_processor_received_to_persisted_seconds", "source", SOURCE),
                "s",
                "From the ingress receiving a webhook to its row committed in Postgres.",
            ),
            timeseries(
                "Received → counted (metric-worker)",
                _quantiles("reflex_metric_worker_received_to_counted_seconds", "source", SOURCE),
                "s",
                "From the ingress receiving a webhook to its count committed in metric_counts "
                "(alert: ReflexEndToEndLatencyHigh at p99 > 60 s).",
            ),
        ],
    ),
    (
        "Streams",
        [
            timeseries(
                "Lag",
                _per_stream("reflex_stream_lag_entries"),
                "short",
                "Entries never delivered to the group. Every replica reports the same value: max, not sum.",
            ),
            timeseries(
                "Pending",
                _per_stream("reflex_stream_pending_entries"),
                "short",
                "Entries delivered to a consumer and not acked yet.",
            ),
            timeseries(
                "Oldest pending age",
                _per_stream("reflex_stream_oldest_pending_age_seconds"),
                "s",
                "Age of the oldest entry delivered and not acked (alert: ReflexOldestPendingAgeHigh over 10 min).",
            ),
            timeseries(
                "Dead letters",
                _per_stream("reflex_stream_dlq_entries"),
                "short",
                "Entries in each stream's dead-letter stream (reflexctl dlq list / replay).",
            ),
            timeseries(
                "Length",
                _per_stream("reflex_stream_length_entries"),
                "short",
                "Entries in the stream (MAXLEN bounds it). A lag above the length means unread entries were trimmed.",
            ),
            timeseries(
                "Lost to trimming",
                [
                    ("max by (stream, group) (reflex_stream_trimmed_entries)", "pending {{stream}} / {{group}}"),
                    (
                        "clamp_min(max by (stream, group) (reflex_stream_lag_entries)"
                        " - max by (stream, group) (reflex_stream_length_entries), 0)",
                        "unread {{stream}} / {{group}}",
                    ),
                ],
                "short",
                "Should stay 0: pending entries found trimmed, and unread entries trimmed (lag over length).",
            ),
        ],
    ),
    (
        "Consumers",
        [
            timeseries(
                "Entries by outcome",
                [(f"sum by (group, outcome) (rate(reflex_consumer_entries_total[{RATE}]))", "{{group}} {{outcome}}")],
                "ops",
                "What happened to stream entries: done, invalid, failed, dead_lettered, trimmed, reclaimed.",
            ),
            timeseries(
                "Consumers per group",
                [("count by (group) (reflex_stream_lag_entries)", "{{group}}")],
                "short",
                "Running consumers (replicas) of each group: each reports its stream's gauges every STATS_INTERVAL_S.",
            ),
            timeseries(
                "Batch time",
                _quantiles("reflex_consumer_batch_seconds", "group"),
                "s",
                "Time to handle and commit one batch.",
            ),
            timeseries(
                "In flight and transient errors",
                [
                    ("sum by (group) (reflex_consumer_in_flight_entries)", "in flight {{group}}"),
                    (
                        f"sum by (group) (rate(reflex_consumer_transient_errors_total[{RATE}]))",
                        "transient errors/s {{group}}",
                    ),
                ],
                "short",
                "Entries held by the consumers; transient errors mean a dependency is down (retried, "
                "never dead-lettered).",
            ),
            timeseries(
                "Ready",
                [("min by (job, instance) (reflex_ready)", "{{job}} {{instance}}")],
                "short",
                "1 while a service's readiness checks pass (the same as its /readyz).",
            ),
            timeseries(
                "Dead-letter circuit breaker",
                _per_stream("reflex_consumer_breaker_open"),
                "short",
                "1 while the breaker is open: failed entries stay pending instead of going to the DLQ.",
            ),
        ],
    ),
    (
        "Windows and anomalies",
        [
            timeseries(
                "Windows closed, revisions, late events",
                [
                    (f"sum(rate(reflex_metric_worker_windows_closed_total[{RATE}]))", "windows closed/s"),
                    (f"sum(rate(reflex_metric_worker_window_revisions_total[{RATE}]))", "revisions/s"),
                    (
                        f"sum by (source) (rate(reflex_metric_worker_late_events_total[{RATE}]))",
                        "late events/s {{source}}",
                    ),
                ],
                "ops",
                "The metric-worker's window closer: first closes, windows sent again after late "
                "events, and those events.",
            ),
            stat(
                "Anomalies open",
                "count(max by (source, type, kind) (reflex_anomaly_open) > 0) or vector(0)",
                "short",
                "Open anomaly incidents (alert: ReflexAnomalyOpen).",
            ),
            timeseries(
                "Anomalies open by series",
                [("max by (source, type, kind) (reflex_anomaly_open) > 0", "{{kind}} {{source}} / {{type}}")],
                "short",
                "Each open incident: a spike, drop or silence of a source's events.",
            ),
            timeseries(
                "Anomalies flagged",
                [(f"sum by (kind) (increase(reflex_anomalies_total[{RATE}]))", "{{kind}}")],
                "short",
                "Windows judged anomalous, by kind.",
            ),
        ],
    ),
]


def _laid_out() -> list[dict[str, Any]]:
    """Rows, each followed by its panels two to a line (stats narrower), with ids and grid positions."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, row_panels in ROWS:
        panels.append(
            {
                "type": "row",
                "title": row_title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"x": 0, "y": y, "w": WIDTH, "h": 1},
            }
        )
        y += 1
        x = 0
        for panel in row_panels:
            w = 6 if panel["type"] == "stat" else 12
            if x + w > WIDTH:
                x, y = 0, y + 8
            panels.append({**panel, "gridPos": {"x": x, "y": y, "w": w, "h": 8}})
            x += w
        y += 8
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return panels


def dashboard() -> dict[str, Any]:
    return {
        "uid": "reflexagent",
        "title": "ReflexAgent",
        "description": "Webhook pipeline: ingress, end-to-end latency, streams, consumers, windows "
        "and anomalies. Runbooks: docs/runbooks.",
        "tags": ["reflexagent"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "source",
                    "label": "Source",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "definition": "label_values(reflex_ingress_requests_total, source)",
                    "query": {"query": "label_values(reflex_ingress_requests_total, source)", "refId": "source"},
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "sort": 1,
                    "hide": 0,
                },
            ]
        },
        "panels": _laid_out(),
    }
