"""The outside validators over the rendered overlays and the Dockerfile, pinned and run from PyPI
through `uv tool run` (never added to the workspace's lockfile):

- kubernetes-validate --strict: core kinds against the Kubernetes schemas, oldest and newest version;
- check-jsonschema: custom resources against deploy/k8s/schemas (KEDA, Prometheus Operator);
- checkov: security scan of both overlays and the one Dockerfile of the four images, skips in .checkov.yaml;
- hadolint: that Dockerfile.

Each validator is also shown a broken input once, so a validator that checks nothing cannot pass.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploykit import (
    CHECK_JSONSCHEMA,
    CHECKOV,
    CR_SCHEMAS,
    DOCKERFILE,
    HADOLINT,
    KUBERNETES_VALIDATE,
    KUBERNETES_VERSIONS,
    ROOT,
    Rendered,
    ToolRun,
    ecma_schema,
    uv_tool,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def is_custom(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
    return "." in group and not group.endswith(".k8s.io")


def write_all(path: Path, objects: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def report(run: ToolRun) -> None:
    """What the validator said, for `pytest -s` and the CI log."""
    last = [line for line in (run.stdout + run.stderr).strip().splitlines() if line.strip()]
    print(f"\n$ {' '.join(run.argv[run.argv.index('--from') + 2 :]) if '--from' in run.argv else ' '.join(run.argv)}")
    print(f"  exit {run.returncode} in {run.seconds:.1f} s: {last[-1] if last else ''}")


# -- kubernetes-validate ------------------------------------------------------------------------------


def kubernetes_validate(path: Path, version: str) -> ToolRun:
    return uv_tool(KUBERNETES_VALIDATE, "kubernetes-validate", "--strict", "-k", version, str(path))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_core_kinds_match_the_kubernetes_schemas(rendered: Rendered, version: str, tmp_path: Path) -> None:
    core = [o for o in rendered.objects if not is_custom(o)]
    path = write_all(tmp_path / f"{rendered.overlay}-core.yaml", core)
    result = kubernetes_validate(path, version)
    report(result)
    assert result.returncode == 0, result.shown
    passed = re.findall(r"^INFO .* passed for resource (\S+)", result.stdout + result.stderr, re.M)
    assert len(passed) == len(core), result.shown
    assert "WARN" not in result.stdout + result.stderr, result.shown


def test_kubernetes_validate_rejects_an_unknown_field(rendered_all: dict[str, Rendered], tmp_path: Path) -> None:
    deployment = copy.deepcopy(rendered_all["prod"].get("Deployment", "reflex-ingress"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    result = kubernetes_validate(write_all(tmp_path / "typo.yaml", [deployment]), KUBERNETES_VERSIONS[-1])
    assert result.returncode != 0, result.shown


# -- custom resources against their JSON Schemas ---------------------------------------------------


def check_jsonschema(schema: Path, instances: list[Path]) -> ToolRun:
    return uv_tool(CHECK_JSONSCHEMA, "check-jsonschema", "--schemafile", str(schema), *map(str, instances))


def test_custom_resources_match_their_schemas(rendered: Rendered, tmp_path: Path) -> None:
    custom = [o for o in rendered.objects if is_custom(o)]
    kinds = {(o["apiVersion"], o["kind"]) for o in custom}
    assert kinds <= set(CR_SCHEMAS), f"custom resources without a schema: {kinds - set(CR_SCHEMAS)}"
    for key in sorted(kinds):
        files = []
        for obj in custom:
            if (obj["apiVersion"], obj["kind"]) == key:
                files.append(write_all(tmp_path / f"{obj['kind']}-{obj['metadata']['name']}.yaml", [obj]))
        result = check_jsonschema(ecma_schema(CR_SCHEMAS[key], tmp_path), files)
        report(result)
        assert result.returncode == 0, result.shown


def test_scaled_object_schema_rejects_numeric_metadata(rendered_all: dict[str, Rendered], tmp_path: Path) -> None:
    scaled = copy.deepcopy(rendered_all["prod"].of_kind("ScaledObject")[0])
    scaled["spec"]["triggers"][0]["metadata"]["lagCount"] = 500
    path = write_all(tmp_path / "numeric.yaml", [scaled])
    result = check_jsonschema(CR_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")], [path])
    assert result.returncode != 0, result.shown


def test_prometheus_rule_schema_rejects_a_bad_duration(rendered_all: dict[str, Rendered], tmp_path: Path) -> None:
    rule = copy.deepcopy(rendered_all["prod"].get("PrometheusRule", "reflexagent"))
    rule["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    path = write_all(tmp_path / "bad-for.yaml", [rule])
    result = check_jsonschema(ecma_schema(CR_SCHEMAS[("monitoring.coreos.com/v1", "PrometheusRule")], tmp_path), [path])
    assert result.returncode != 0, result.shown


# -- checkov ------------------------------------------------------------------------------------------


def checkov(*files: Path) -> tuple[ToolRun, list[dict[str, Any]]]:
    args = ["--config-file", str(ROOT / ".checkov.yaml"), "--output", "json"]
    for path in files:
        args += ["--file", str(path)]
    result = uv_tool(CHECKOV, "checkov", *args)
    parsed = json.loads(result.stdout)
    return result, parsed if isinstance(parsed, list) else [parsed]


def test_checkov_finds_nothing(rendered_all: dict[str, Rendered], tmp_path: Path) -> None:
    """One run over both overlays, the Dockerfile and a control: a privileged copy of a
    Deployment, which must fail (and nothing else may)."""
    control = copy.deepcopy(rendered_all["prod"].get("Deployment", "reflex-metric-worker"))
    control["metadata"]["name"] = "privileged-control"
    control["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    control_path = write_all(tmp_path / "control.yaml", [control])
    renders = [r.path for r in rendered_all.values()]
    result, reports = checkov(*renders, DOCKERFILE, control_path)
    failed = [f for r in reports for f in r["results"]["failed_checks"]]
    ours = [
        f"{f['check_id']} {f['check_name']}: {f['resource']}"
        for f in failed
        if not f["file_path"].endswith("/control.yaml")
    ]
    for r in reports:
        counts = r["summary"]
        control_failures = len(failed) - len(ours) if r["check_type"] == "kubernetes" else 0
        print(
            f"\ncheckov {r['check_type']}: passed {counts['passed']}, failed {counts['failed'] - control_failures}"
            f" (+{control_failures} on the privileged control, as expected), skipped {counts['skipped']},"
            f" parsing errors {counts['parsing_errors']}, resources {counts['resource_count']}"
        )
    assert not ours, "\n".join(ours)
    assert "CKV_K8S_16" in {f["check_id"] for f in failed}, "checkov did not fail the privileged control"
    summary = {r["check_type"]: r["summary"] for r in reports}
    assert set(summary) == {"kubernetes", "dockerfile"}
    for kind, counts in summary.items():
        assert counts["parsing_errors"] == 0, kind
        assert counts["resource_count"] > 0 and counts["passed"] > 0, kind
    assert result.returncode == 1, "checkov exits 1 for the control's failures, and only for those"


def test_every_checkov_skip_says_why() -> None:
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    skips = [i for i, line in enumerate(lines) if re.match(r"\s*-\s*CKV", line)]
    assert skips, "no skip-check list"
    for index in skips:
        assert lines[index - 1].strip().startswith("#"), f"uncommented skip: {lines[index].strip()}"
    for path in (ROOT / "deploy").rglob("*.yaml"):
        for match in re.finditer(r"checkov\.io/skip\d+:\s*(\S+)(.*)", path.read_text()):
            check, _, reason = (match.group(1) + match.group(2)).partition("=")
            assert len(reason.split()) >= 4, f"{path}: {check} skipped without a reason"


# -- hadolint ---------------------------------------------------------------------------------------


def test_hadolint() -> None:
    result = uv_tool(HADOLINT, "hadolint", "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE))
    report(result)
    assert result.returncode == 0, result.shown


def test_hadolint_flags_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\n")
    result = uv_tool(HADOLINT, "hadolint", "--config", str(ROOT / ".hadolint.yaml"), str(bad))
    assert result.returncode != 0 and "DL3007" in result.stdout, result.shown
