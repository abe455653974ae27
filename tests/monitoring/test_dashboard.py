"""The Grafana dashboard and the alert rules against what the services really export: every PromQL
expression parses (promtool), and every metric it names is on the live services' /metrics (scraped
from the real processes, see livekit.py; declared with HELP/TYPE, whether or not a series exists yet)
— or in one of the two documented sets below."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from livekit import Scrape
from promkit import MONITORING, ROOT, Promtool, rule_groups, show

DASHBOARD = MONITORING / "grafana" / "reflexagent.json"
# Made by Prometheus itself for every scrape target, never exported by a service.
PROMETHEUS_MADE = {"up"}
# Grafana's variables, as Prometheus would see them after Grafana substitutes them.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$source": ".*"}

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS |= {"inf", "nan"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()")
_LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers outside strings, label matchers,
    ranges and grouping clauses that are neither functions, aggregations nor keywords."""
    text = _STRINGS.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {name for name in _NAME.findall(text) if name.lower() not in KEYWORDS}


def substituted(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def dashboard_expressions() -> list[tuple[str, str]]:
    """(where, PromQL) for every query of every panel."""
    found = []
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target['refId']}", substituted(target["expr"])))
    return found


def rule_expressions() -> list[tuple[str, str]]:
    return [(f"alert {r['alert']}", r["expr"]) for g in rule_groups() for r in g["rules"]]


def variable_metrics() -> set[str]:
    names = set()
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            names |= set(_LABEL_VALUES.findall(variable["query"]["query"]))
    return names


def all_expressions() -> list[tuple[str, str]]:
    return dashboard_expressions() + rule_expressions()


def test_metric_names_finds_selectors_and_skips_the_rest() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (source, le) (rate(a_bucket{status=~"5..", x="b c"}[5m] offset 1h)))'
        " / on (source) group_left (le) max without (instance) (b) > bool 1e-9 and c:recorded or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c:recorded"}
    assert metric_names("up == 0") == {"up"}


def test_every_panel_queries_something(tmp_path: Path) -> None:
    panels = [p for p in dashboard()["panels"] if p["type"] != "row"]
    assert panels and all(p.get("targets") for p in panels)
    assert all(metric_names(expr) for _, expr in all_expressions())


def test_dashboard_covers_what_on_call_asks() -> None:
    """Ingress requests by source and status, latency, e2e latency, lag / pending / oldest pending age /
    DLQ per stream, consumers, anomalies open."""
    used = set().union(*(metric_names(expr) for _, expr in dashboard_expressions()))
    for name in (
        "reflex_ingress_requests_total",
        "reflex_ingress_request_duration_seconds_bucket",
        "reflex_processor_received_to_persisted_seconds_bucket",
        "reflex_metric_worker_received_to_counted_seconds_bucket",
        "reflex_stream_lag_entries",
        "reflex_stream_pending_entries",
        "reflex_stream_oldest_pending_age_seconds",
        "reflex_stream_dlq_entries",
        "reflex_anomaly_open",
    ):
        assert name in used, name
    by_status = [e for _, e in dashboard_expressions() if "reflex_ingress_requests_total" in e and "status" in e]
    assert any(re.search(r"by \(source, status\)", e) for e in by_status)


@pytest.mark.slow
def test_every_expression_parses(promtool: Promtool, tmp_path: Path) -> None:
    """Each expression as a recording rule, checked by promtool (which parses the PromQL)."""
    expressions = all_expressions()
    rules = [{"record": f"check:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(expressions)]
    path = tmp_path / "expressions.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-and-rules", "rules": rules}]}))
    result = promtool.run("check", "rules", str(path))
    show(f"$ promtool check rules <{len(rules)} dashboard and rule expressions>\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@pytest.mark.slow
def test_promtool_rejects_a_broken_expression(promtool: Promtool, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    broken = "sum by (source (rate(reflex_ingress_requests_total[5m]))"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r", "expr": broken}]}]}))
    assert promtool.run("check", "rules", str(path)).returncode != 0


@pytest.mark.slow
def test_every_metric_named_is_exported_by_the_live_services(scrapes: dict[str, Scrape]) -> None:
    # Declared (HELP/TYPE) counts as exported: a labelled counter has no series before its first event
    # (no late event, no transient error yet), but its name is on /metrics.
    exported = set().union(*(s.declared for s in scrapes.values()))
    assert set().union(*(s.names for s in scrapes.values())) <= exported
    missing = []
    for where, expr in all_expressions():
        for name in sorted(metric_names(expr) - exported - PROMETHEUS_MADE):
            missing.append(f"{where}: {name}")
    for name in sorted(variable_metrics() - exported):
        missing.append(f"dashboard variable: {name}")
    assert not missing, "names no service exports:\n" + "\n".join(missing)
    used = set().union(*(metric_names(e) for _, e in all_expressions()))
    show(f"{len(used)} metric names in {len(all_expressions())} expressions, {len(exported)} exported")
    # The documented exceptions are really used, and really not exported yet (else: drop them here).
    assert PROMETHEUS_MADE <= used


def test_the_dashboard_ships_as_a_sidecar_configmap() -> None:
    configmap = yaml.safe_load(
        (ROOT / "deploy" / "k8s" / "base" / "monitoring" / "dashboard-configmap.yaml").read_text()
    )
    assert configmap["kind"] == "ConfigMap" and configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["reflexagent.json"]) == dashboard()
