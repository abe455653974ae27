"""The alert rules of deploy/monitoring/rules: what the issue asks for, each with severity, summary and
runbook, checked and unit-tested by promtool (tests in tests/monitoring/rules/*.test.yaml), and the
Kubernetes copy (a PrometheusRule in the kustomize base) the same rules."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from promkit import ROOT, RULE_TESTS, Promtool, alerts, rule_files, show

# Every alert the on-call kit needs (issue 8): streams, ingress, services, anomalies.
EXPECTED_ALERTS = {
    "ReflexConsumerLagGrowing",  # consumer lag growing
    "ReflexOldestPendingAgeHigh",  # oldest pending age over a bound
    "ReflexDeadLettersGrowing",  # DLQ growing
    "ReflexEntriesTrimmedPending",  # a pending entry trimmed away
    "ReflexEntriesTrimmedUnread",  # an unread entry trimmed away
    "ReflexConsumerBreakerOpen",  # the dead-letter circuit breaker open
    "ReflexIngressServerErrors",  # ingress 5xx / 503 rate
    "ReflexIngressThrottling",  # sustained 429s
    "ReflexSourceVerificationFailing",  # a source's deliveries failing verification (401/403 share)
    "ReflexServiceDown",  # up == 0
    "ReflexServiceNotReady",  # readiness failing
    "ReflexEndToEndLatencyHigh",  # end-to-end p99 over a bound
    "ReflexAnomalyOpen",  # an anomaly incident open
}
SEVERITIES = {"critical", "warning"}


def rule_tests() -> list[Path]:
    return sorted(RULE_TESTS.glob("*.test.yaml"))


def render_script() -> ModuleType:
    sys.path.insert(0, str(ROOT / "scripts"))  # it imports scripts/dashboard.py beside it
    spec = importlib.util.spec_from_file_location("render_monitoring", ROOT / "scripts" / "render_monitoring.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_alert_the_issue_asks_for_is_there() -> None:
    assert set(alerts()) == EXPECTED_ALERTS


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_alert_has_severity_summary_and_runbook(name: str) -> None:
    rule = alerts()[name]
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert annotations["runbook_url"] == f"docs/runbooks/{name}.md"


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    """Each alert has at least one promtool case where it fires and one where it must not."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in rule_tests():
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fired >= EXPECTED_ALERTS, f"never seen firing: {EXPECTED_ALERTS - fired}"
    assert quiet >= EXPECTED_ALERTS, f"never seen quiet: {EXPECTED_ALERTS - quiet}"


def test_every_rule_file_has_its_unit_tests() -> None:
    tested = set()
    for path in rule_tests():
        for name in yaml.safe_load(path.read_text())["rule_files"]:
            tested.add((path.parent / name).resolve())
    assert {p.resolve() for p in rule_files()} == tested


@pytest.mark.slow
def test_promtool_checks_the_rule_files(promtool: Promtool) -> None:
    result = promtool.run("check", "rules", *map(str, rule_files()))
    show(f"$ promtool check rules deploy/monitoring/rules/*.yaml\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    found = sum(int(n) for n in re.findall(r"SUCCESS: (\d+) rules found", result.stdout))
    assert found == len(alerts())


@pytest.mark.slow
def test_promtool_unit_tests_pass(promtool: Promtool) -> None:
    result = promtool.run("test", "rules", *map(str, rule_tests()))
    show(f"$ promtool test rules tests/monitoring/rules/*.test.yaml\n{result.stdout}{result.stderr}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(rule_tests())


@pytest.mark.slow
def test_promtool_fails_a_wrong_expectation(promtool: Promtool, tmp_path: Path) -> None:
    """A control: the same test with one expected label changed must fail, so the run above checked."""
    source = RULE_TESTS / "ingress.test.yaml"
    case = yaml.safe_load(source.read_text())
    case["rule_files"] = [str((source.parent / name).resolve()) for name in case["rule_files"]]
    case["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["source"] = "stripe"
    broken = tmp_path / "broken.test.yaml"
    broken.write_text(yaml.safe_dump(case))
    result = promtool.run("test", "rules", str(broken))
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_kubernetes_copies_are_fresh() -> None:
    """deploy/k8s/base/monitoring holds what scripts/render_monitoring.py writes from deploy/monitoring."""
    for path, text in render_script().rendered().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(ROOT)} is stale: uv run python scripts/render_monitoring.py"
        )


def test_the_prometheus_rule_holds_the_rule_files() -> None:
    rule = yaml.safe_load((ROOT / "deploy" / "k8s" / "base" / "monitoring" / "prometheusrule.yaml").read_text())
    groups = [g for path in rule_files() for g in yaml.safe_load(path.read_text())["groups"]]
    assert rule["kind"] == "PrometheusRule" and rule["spec"]["groups"] == groups
