"""Our own policy over the rendered overlays: what a reviewer would check by hand on every change.

Probes that mean something, resources, the restricted Pod Security profile, rollouts that never drop
an event, consumer names from the pod name, autoscaling on the streams' backlog (KEDA) and on CPU (the
ingress), the documented singleton, disruption budgets, network policies whose ports exist, webhook
secrets as files, and configuration the services' own settings classes accept.
"""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploykit import (
    BY_DEPLOYMENT,
    DOCKERFILE,
    EXTERNAL_SECRETS,
    K8S,
    KEDA_SCALED,
    NAMESPACES,
    ROOT,
    SERVICES,
    SINGLETON,
    SOURCES_CONFIGMAP,
    WEBHOOK_SECRET,
    Rendered,
    configmap_env,
    containers,
    env_names_in_order,
    env_of,
    iter_probes,
    named_ports,
    pod_labels,
    pod_spec,
    prestop_seconds,
    selects,
)

from reflex_common.keys import Keys

# Margin between the last thing a pod does on SIGTERM and the SIGKILL at the end of the grace period.
SHUTDOWN_MARGIN_S = 5
# The ingress's own drain bound (aiohttp shutdown_timeout in reflex_ingress.__main__).
INGRESS_DRAIN_S = 10
SECRETS_MOUNT = "/etc/reflex/secrets"


def deployments(rendered: Rendered) -> list[dict[str, Any]]:
    return rendered.of_kind("Deployment")


def ours(rendered: Rendered) -> list[dict[str, Any]]:
    found = [d for d in deployments(rendered) if d["metadata"]["name"] in BY_DEPLOYMENT]
    assert {d["metadata"]["name"] for d in found} == set(BY_DEPLOYMENT), f"{rendered.overlay}: missing services"
    return found


def main_container(deployment: dict[str, Any]) -> dict[str, Any]:
    service = BY_DEPLOYMENT[deployment["metadata"]["name"]]
    (container,) = [c for c in pod_spec(deployment)["containers"] if c["name"] == service.name]
    return dict(container)


def settings_class(deployment_name: str) -> Any:
    module, cls = BY_DEPLOYMENT[deployment_name].settings.split(":")
    return getattr(importlib.import_module(module), cls)


# -- the render as a whole -----------------------------------------------------------------------


def test_renders_into_its_namespace(rendered: Rendered) -> None:
    namespace = NAMESPACES[rendered.overlay]
    assert rendered.objects, "nothing rendered"
    keys = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert len(keys) == len(set(keys)), "duplicate objects"
    for obj in rendered.objects:
        if obj["kind"] == "Namespace":
            continue
        assert obj["metadata"].get("namespace") == namespace, f"{obj['kind']}/{obj['metadata']['name']}"
    ns = rendered.get("Namespace", namespace)
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    print(f"\n{rendered.command}: {len(rendered.objects)} objects {rendered.counts()}")


# -- every Deployment: probes, resources, the restricted profile -----------------------------------


def test_every_deployment_has_probes_on_ports_it_opens(rendered: Rendered) -> None:
    for deployment in deployments(rendered):
        for container in pod_spec(deployment)["containers"]:
            where = f"{rendered.overlay}: {deployment['metadata']['name']}/{container['name']}"
            probes = dict(iter_probes(container))
            assert set(probes) == {"startupProbe", "readinessProbe", "livenessProbe"}, where
            ports = named_ports(container)
            for kind, probe in probes.items():
                handler = probe.get("httpGet") or probe.get("tcpSocket")
                if handler is not None:
                    port = handler["port"]
                    assert port in ports or port in ports.values(), f"{where}: {kind} port {port} not opened"
                else:
                    assert probe["exec"]["command"], f"{where}: {kind} without a handler"


def test_our_probes_mean_what_the_services_serve(rendered: Rendered) -> None:
    """Readiness = dependencies + group joined (/readyz); liveness = the loop made progress (/livez),
    never the dependency check, so an outage does not restart every pod. The ingress serves both on
    its HTTP port (its metrics port answers /livez unconditionally); workers on the metrics port."""
    for deployment in ours(rendered):
        service = BY_DEPLOYMENT[deployment["metadata"]["name"]]
        container = main_container(deployment)
        port = "metrics" if service.is_worker else "http"
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}
        assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port}
        # Workers: liveness only starts once prepared (migrations, group joined), see the manifest.
        startup_path = "/readyz" if service.is_worker else "/livez"
        assert container["startupProbe"]["httpGet"] == {"path": startup_path, "port": port}
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "startup budget under a minute"
        liveness = container["livenessProbe"]
        assert liveness["failureThreshold"] >= 3, "one slow answer must not restart the pod"


def test_every_container_has_resources(rendered: Rendered) -> None:
    for deployment in deployments(rendered):
        for container in containers(deployment):
            resources = container.get("resources", {})
            where = f"{rendered.overlay}: {deployment['metadata']['name']}/{container['name']}"
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where}: {bound}"


def test_every_pod_meets_the_restricted_profile(rendered: Rendered) -> None:
    for deployment in deployments(rendered):
        spec = pod_spec(deployment)
        name = deployment["metadata"]["name"]
        pod_sc = spec.get("securityContext", {})
        assert pod_sc.get("runAsNonRoot") is True, name
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(forbidden), f"{name}: {forbidden}"
        assert not any("hostPath" in v for v in spec.get("volumes", [])), f"{name}: hostPath"
        # No service-account token: the services never call the Kubernetes API.
        assert spec.get("automountServiceAccountToken") is False, name
        account = rendered.get("ServiceAccount", spec["serviceAccountName"])
        assert account.get("automountServiceAccountToken") is False, name
        empty_dirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for container in containers(deployment):
            sc = container.get("securityContext", {})
            where = f"{name}/{container['name']}"
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged") is not True, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not sc.get("capabilities", {}).get("add"), where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 0)) != 0, where
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            assert seccomp.get("type") == "RuntimeDefault", where
            # A read-only root still needs a writable /tmp.
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp and tmp[0]["name"] in empty_dirs, f"{where}: no emptyDir on /tmp"


def test_our_pods_run_as_the_images_user(rendered: Rendered) -> None:
    """The UID in the manifests is the numeric USER of the images' Dockerfile (10001)."""
    for deployment in ours(rendered):
        service = BY_DEPLOYMENT[deployment["metadata"]["name"]]
        users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", DOCKERFILE.read_text(), re.M)
        assert users, f"{service.name}: no numeric USER"
        uid, gid = map(int, users[-1])
        sc = main_container(deployment)["securityContext"]
        assert (sc["runAsUser"], sc["runAsGroup"]) == (uid, gid) == (10001, 10001)


# -- rollouts and drains -----------------------------------------------------------------------------


def test_rollouts_never_take_a_pod_away_first(rendered: Rendered) -> None:
    """maxUnavailable 0 everywhere, except the documented singleton (Recreate, one replica)."""
    for deployment in ours(rendered):
        name = deployment["metadata"]["name"]
        strategy = deployment["spec"]["strategy"]
        if name == SINGLETON:
            assert strategy == {"type": "Recreate"}, name
            assert deployment["spec"]["replicas"] == 1, name
        else:
            assert strategy["type"] == "RollingUpdate", name
            assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name
            assert strategy["rollingUpdate"]["maxSurge"] >= 1, name


def test_grace_period_outlasts_prestop_and_drain(rendered: Rendered) -> None:
    for deployment in ours(rendered):
        name = deployment["metadata"]["name"]
        service = BY_DEPLOYMENT[name]
        container = main_container(deployment)
        pause_s = prestop_seconds(container)
        if service.is_worker:
            drain_s = float(env_of(container)["DRAIN_GRACE_S"]["value"])
        else:
            drain_s = INGRESS_DRAIN_S
            assert pause_s >= 5, "the ingress must keep serving while its endpoint is removed"
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace >= pause_s + drain_s + SHUTDOWN_MARGIN_S, f"{name}: {grace} s < {pause_s} + {drain_s} + margin"


def test_consumer_names_come_from_the_pod_name(rendered: Rendered) -> None:
    for deployment in ours(rendered):
        container = main_container(deployment)
        env = env_of(container)
        assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
        if BY_DEPLOYMENT[deployment["metadata"]["name"]].is_worker:
            assert env["CONSUMER_NAME"]["value"] == "$(POD_NAME)"
            order = env_names_in_order(container)
            # $(VAR) only expands variables defined earlier in the list.
            assert order.index("POD_NAME") < order.index("CONSUMER_NAME")


def test_telemetry_env(rendered: Rendered) -> None:
    for deployment in ours(rendered):
        name = deployment["metadata"]["name"]
        container = main_container(deployment)
        env = env_of(container)
        assert env["OTEL_SERVICE_NAME"]["value"] == name
        attributes = env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        assert "k8s.pod.name=$(POD_NAME)" in attributes
        order = env_names_in_order(container)
        for var in re.findall(r"\$\((\w+)\)", attributes):
            assert order.index(var) < order.index("OTEL_RESOURCE_ATTRIBUTES"), var
        endpoint = configmap_env(rendered, container)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert re.fullmatch(r"https?://[\w.-]+:4318", endpoint), endpoint


def test_env_is_what_the_settings_read(rendered: Rendered) -> None:
    """Every variable we set is a field of the service's settings class (a typo would be silently
    ignored by the service), and the plain values parse. Ports match the container's ports."""
    not_settings = {"POD_NAME", "POD_NAMESPACE", "NODE_NAME", "REDIS_ADDRESS"}
    for deployment in ours(rendered):
        name = deployment["metadata"]["name"]
        settings = settings_class(name)
        fields = {f.upper() for f in settings.model_fields}
        container = main_container(deployment)
        values = {**configmap_env(rendered, container)}
        for var, item in env_of(container).items():
            if "value" in item:
                values[var] = item["value"]
            else:
                values.setdefault(var, "")
        for var in values:
            if var in not_settings or var.startswith("OTEL_"):
                continue
            assert var in fields, f"{name}: {var} is not a setting of {settings.__name__}"
        plain = {k.lower(): v for k, v in values.items() if k.upper() in fields and "$(" not in v and v}
        parsed = settings(**plain)
        ports = named_ports(container)
        assert parsed.health_port == ports["metrics"]
        if not BY_DEPLOYMENT[name].is_worker:
            assert parsed.http_port == ports["http"]


# -- autoscaling -----------------------------------------------------------------------------------


def test_workers_scale_on_their_groups_lag_and_pending(rendered: Rendered) -> None:
    scaled = {so["spec"]["scaleTargetRef"]["name"]: so for so in rendered.of_kind("ScaledObject")}
    assert set(scaled) == KEDA_SCALED
    for deployment_name, so in scaled.items():
        service = BY_DEPLOYMENT[deployment_name]
        deployment = rendered.get("Deployment", deployment_name)
        container = main_container(deployment)
        key_prefix = configmap_env(rendered, container)["KEY_PREFIX"]
        expected_stream = getattr(Keys(key_prefix), str(service.stream))
        spec = so["spec"]
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        # A NULL lag (Redis cannot compute it) must never scale a backlog to zero readers.
        assert spec["minReplicaCount"] >= 1
        assert spec["maxReplicaCount"] >= spec["minReplicaCount"]
        # KEDA owns the replica count: the Deployment must not fight it on every apply.
        assert "replicas" not in deployment["spec"], deployment_name
        signals = set()
        for trigger in spec["triggers"]:
            assert trigger["type"] == "redis-streams"
            metadata = trigger["metadata"]
            assert all(isinstance(v, str) for v in metadata.values()), f"non-string metadata: {metadata}"
            assert metadata["stream"] == expected_stream
            assert metadata["consumerGroup"] == service.group
            if "lagCount" in metadata:
                signals.add("lag")
                assert int(metadata["lagCount"]) > 0
            if "pendingEntriesCount" in metadata:
                signals.add("pending")
                assert int(metadata["pendingEntriesCount"]) > 0
            assert not ("lagCount" in metadata and "pendingEntriesCount" in metadata), "one signal per trigger"
            # The address comes from the target container's environment.
            address_var = metadata["addressFromEnv"]
            address = configmap_env(rendered, container).get(address_var)
            assert address and re.fullmatch(r"[\w.-]+:\d+", address), address_var
            auth = rendered.get("TriggerAuthentication", trigger["authenticationRef"]["name"])
            for ref in auth["spec"]["secretTargetRef"]:
                assert ref["parameter"] in {"password", "username"}
                assert_secret_key(rendered, ref["name"], ref["key"])
        assert signals == {"lag", "pending"}, deployment_name


def test_ingress_scales_on_cpu(rendered: Rendered) -> None:
    (hpa,) = rendered.of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "reflex-ingress"}
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    deployment = rendered.get("Deployment", "reflex-ingress")
    assert "replicas" not in deployment["spec"]
    assert "cpu" in main_container(deployment)["resources"]["requests"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_anomaly_detector_is_a_singleton(rendered: Rendered) -> None:
    targets = {so["spec"]["scaleTargetRef"]["name"] for so in rendered.of_kind("ScaledObject")}
    targets |= {h["spec"]["scaleTargetRef"]["name"] for h in rendered.of_kind("HorizontalPodAutoscaler")}
    assert SINGLETON not in targets
    deployment = rendered.get("Deployment", SINGLETON)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_disruption_budgets(rendered: Rendered) -> None:
    budgets = rendered.of_kind("PodDisruptionBudget")
    for deployment in deployments(rendered):
        labels = pod_labels(deployment)
        covering = [b for b in budgets if selects(b["spec"]["selector"], labels)]
        name = deployment["metadata"]["name"]
        assert len(covering) == 1, f"{name}: {len(covering)} budgets"
        spec = covering[0]["spec"]
        # A drain must be able to proceed: one pod at a time, never "none".
        assert spec.get("maxUnavailable", 0) >= 1 or spec.get("minAvailable") == 0, name


# -- network ----------------------------------------------------------------------------------------


def test_default_deny_and_dns(rendered: Rendered) -> None:
    deny = rendered.get("NetworkPolicy", "default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert not deny.get("ingress") and not deny.get("egress")
    dns = rendered.get("NetworkPolicy", "allow-dns")["spec"]
    assert dns["podSelector"] == {}
    ports = {(p["protocol"], p["port"]) for rule in dns["egress"] for p in rule["ports"]}
    assert {("UDP", 53), ("TCP", 53)} <= ports


def policies_for(rendered: Rendered, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        p
        for p in rendered.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels)
    ]


def test_every_allowed_ingress_port_exists(rendered: Rendered) -> None:
    """Every port a NetworkPolicy opens is a port of a pod it selects, and every pod has a policy."""
    for deployment in deployments(rendered):
        labels = pod_labels(deployment)
        own = policies_for(rendered, labels)
        name = deployment["metadata"]["name"]
        assert own, f"{name}: only default-deny applies"
        ports: dict[str, int] = {}
        for container in pod_spec(deployment)["containers"]:
            ports.update(named_ports(container))
        for policy in own:
            for rule in policy["spec"].get("ingress", []):
                for port in rule["ports"]:
                    value = port["port"]
                    assert value in ports or value in ports.values(), f"{policy['metadata']['name']}: {value}"


def test_our_services_reach_what_they_need_and_no_more(rendered: Rendered) -> None:
    for deployment in ours(rendered):
        service = BY_DEPLOYMENT[deployment["metadata"]["name"]]
        (policy,) = policies_for(rendered, pod_labels(deployment))
        spec = policy["spec"]
        egress = {p["port"] for rule in spec["egress"] for p in rule["ports"]}
        expected = {6379, 4317, 4318} | ({5432} if service.is_worker else set())
        assert egress == expected, service.name
        metrics_from = [
            rule.get("from") for rule in spec["ingress"] if any(p["port"] == "metrics" for p in rule["ports"])
        ]
        assert metrics_from == [[{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]]
        opened = {p["port"] for rule in spec["ingress"] for p in rule["ports"]}
        assert opened == ({"metrics"} if service.is_worker else {"http", "metrics"}), service.name


def test_services_target_ports_that_exist(rendered: Rendered) -> None:
    for svc in rendered.of_kind("Service"):
        targets = [d for d in deployments(rendered) if selects(svc["spec"]["selector"], pod_labels(d))]
        assert len(targets) == 1, f"Service {svc['metadata']['name']} selects {len(targets)} Deployments"
        ports: dict[str, int] = {}
        for container in pod_spec(targets[0])["containers"]:
            ports.update(named_ports(container))
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in ports or target in ports.values(), f"{svc['metadata']['name']}: {target}"


def test_a_service_monitor_per_service(rendered: Rendered) -> None:
    monitors = rendered.of_kind("ServiceMonitor")
    for deployment in ours(rendered):
        name = deployment["metadata"]["name"]
        services = [s for s in rendered.of_kind("Service") if selects(s["spec"]["selector"], pod_labels(deployment))]
        (service,) = services
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}, name
        watching = [m for m in monitors if selects(m["spec"]["selector"], service["metadata"]["labels"])]
        assert len(watching) == 1, f"{name}: {len(watching)} ServiceMonitors"
        (endpoint,) = watching[0]["spec"]["endpoints"]
        assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"


def test_alert_rules_ship_as_a_prometheus_rule(rendered: Rendered) -> None:
    """The PrometheusRule carries exactly the rules of deploy/monitoring/rules, and its `up` alert
    names the jobs the ServiceMonitors make (the Prometheus Operator names a job after the Service)."""
    rule = rendered.get("PrometheusRule", "reflexagent")
    files = sorted((ROOT / "deploy" / "monitoring" / "rules").glob("*.yaml"))
    assert rule["spec"]["groups"] == [g for path in files for g in yaml.safe_load(path.read_text())["groups"]]
    (down,) = [r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "ReflexServiceDown"]
    jobs = re.search(r'job=~"([^"]+)"', down["expr"])
    assert jobs, down["expr"]
    for monitor in rendered.of_kind("ServiceMonitor"):
        assert "jobLabel" not in monitor["spec"], monitor["metadata"]["name"]
        (service,) = [
            s for s in rendered.of_kind("Service") if selects(monitor["spec"]["selector"], s["metadata"]["labels"])
        ]
        assert re.fullmatch(jobs.group(1), service["metadata"]["name"]), service["metadata"]["name"]


def test_the_dashboard_ships_for_the_grafana_sidecar(rendered: Rendered) -> None:
    """A ConfigMap with the sidecar's label whose one key is deploy/monitoring/grafana/reflexagent.json."""
    configmap = rendered.get("ConfigMap", "reflexagent-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = ROOT / "deploy" / "monitoring" / "grafana" / "reflexagent.json"
    assert configmap["data"] == {"reflexagent.json": dashboard.read_text()}


# -- secrets and configuration --------------------------------------------------------------------


def assert_secret_key(rendered: Rendered, name: str, key: str | None) -> None:
    """The Secret (and its key) exists: rendered in dev; in prod, one of the documented Secrets the
    platform team creates (deploy/k8s/README.md)."""
    secret = rendered.find("Secret", name)
    if rendered.overlay == "prod":
        assert secret is None, "prod commits no Secret"
        assert name in EXTERNAL_SECRETS, f"prod references an undocumented Secret {name}"
        assert key is None or not EXTERNAL_SECRETS[name] or key in EXTERNAL_SECRETS[name], f"{name}/{key}"
    else:
        assert secret is not None, f"Secret {name} is not rendered"
        assert key is None or key in secret["data"], f"{name} has no key {key}"


def test_every_reference_resolves(rendered: Rendered) -> None:
    for deployment in deployments(rendered):
        spec = pod_spec(deployment)
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert_secret_key(rendered, volume["secret"]["secretName"], None)
            if "configMap" in volume:
                rendered.get("ConfigMap", volume["configMap"]["name"])
        for container in containers(deployment):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert_secret_key(rendered, ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
                if "configMapKeyRef" in ref:
                    data = rendered.get("ConfigMap", ref["configMapKeyRef"]["name"])["data"]
                    assert ref["configMapKeyRef"]["key"] in data
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    rendered.get("ConfigMap", source["configMapRef"]["name"])
                assert "secretRef" not in source, "a whole Secret as environment"


def test_webhook_secrets_are_files_that_can_rotate(rendered: Rendered) -> None:
    """Mounted as a directory (a subPath mount never sees an update), never in the environment."""
    ingress = rendered.get("Deployment", "reflex-ingress")
    volumes = {v["name"]: v for v in pod_spec(ingress)["volumes"]}
    (mount,) = [
        m
        for m in main_container(ingress)["volumeMounts"]
        if volumes[m["name"]].get("secret", {}).get("secretName") == WEBHOOK_SECRET
    ]
    assert mount["mountPath"] == SECRETS_MOUNT and mount.get("readOnly") is True
    assert "subPath" not in mount and "subPathExpr" not in mount
    # Readable by the non-root user: the files are root-owned, group fsGroup, mode defaultMode.
    mode = volumes[mount["name"]]["secret"].get("defaultMode", 0o644)
    pod_sc = pod_spec(ingress)["securityContext"]
    assert mode & 0o040 and pod_sc.get("fsGroup") == pod_sc["runAsGroup"], f"unreadable: {oct(mode)}"
    assert not mode & 0o007, f"secret files open to others: {oct(mode)}"
    for deployment in deployments(rendered):
        for container in containers(deployment):
            for item in container.get("env", []):
                ref = item.get("valueFrom", {}).get("secretKeyRef", {})
                assert ref.get("name") != WEBHOOK_SECRET, f"{deployment['metadata']['name']}: {item['name']}"
    if rendered.overlay == "dev":
        secret = rendered.get("Secret", WEBHOOK_SECRET)
        # Updated in place when rotated: a hash-suffixed name would roll the ingress instead.
        assert secret["metadata"]["name"] == WEBHOOK_SECRET


def test_sources_file_starts_the_ingress(rendered: Rendered, tmp_path: Path) -> None:
    """The rendered SOURCES_FILE loads and builds with the ingress's own code (kinds exist, options
    valid), and every `file:` secret is a key of the mounted Secret."""
    from reflex_ingress.sources.config import load_sources
    from reflex_ingress.sources.registry import build_sources

    configmap = rendered.get("ConfigMap", rendered_name(rendered, SOURCES_CONFIGMAP))
    text = configmap["data"]["sources.yaml"]
    secret = rendered.find("Secret", WEBHOOK_SECRET)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key in (secret or {}).get("data", {}):
        (secrets_dir / key).write_text("a-secret-for-the-test")
    referenced = set(re.findall(rf"file:{SECRETS_MOUNT}/([\w.-]+)", text))
    assert referenced, "no file: secret in the sources"
    assert "env:" not in text and "value:" not in text, "webhook secrets must come from files"
    if secret is not None:
        assert referenced <= set(secret["data"]), f"missing keys: {referenced - set(secret['data'])}"
    else:
        for key in referenced:
            (secrets_dir / key).write_text("a-secret-for-the-test")
    local = tmp_path / "sources.yaml"
    local.write_text(text.replace(f"file:{SECRETS_MOUNT}/", f"file:{secrets_dir}/"))
    built = build_sources(load_sources(local))
    assert built


def rendered_name(rendered: Rendered, base_name: str) -> str:
    """The generated (hash-suffixed) name of a generated ConfigMap."""
    names = [
        c["metadata"]["name"]
        for c in rendered.of_kind("ConfigMap")
        if re.fullmatch(rf"{base_name}(-[a-z0-9]{{10}})?", c["metadata"]["name"])
    ]
    assert len(names) == 1, names
    return str(names[0])


def test_no_secret_is_committed(rendered: Rendered) -> None:
    """prod renders no Secret at all; dev's are generated from files that git ignores."""
    secrets = rendered.of_kind("Secret")
    if rendered.overlay == "prod":
        assert secrets == []
        return
    kustomization = yaml.safe_load((K8S / "overlays" / "dev" / "kustomization.yaml").read_text())
    files = [f.split("=", 1)[-1] for g in kustomization["secretGenerator"] for f in g["files"]]
    assert files and not any("literals" in g or "envs" in g for g in kustomization["secretGenerator"])
    assert {s["metadata"]["name"].rsplit("-", 1)[0] for s in secrets} | {s["metadata"]["name"] for s in secrets} >= {
        "reflex-redis",
        "reflex-postgres",
        WEBHOOK_SECRET,
    }
    try:
        ignored = subprocess.run(
            ["git", "check-ignore", *[f"deploy/k8s/overlays/dev/{f}" for f in files]],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("git is not installed")
    if ignored.returncode == 128:
        pytest.skip("not a git checkout")
    assert len(ignored.stdout.split()) == len(files), f"not ignored by git: {files}\n{ignored.stdout}"


def test_images_are_versioned(rendered: Rendered) -> None:
    for deployment in ours(rendered):
        service = BY_DEPLOYMENT[deployment["metadata"]["name"]]
        image = main_container(deployment)["image"]
        repository, _, tag = image.rpartition(":")
        assert repository == f"reflexagent/{service.name}", image
        assert tag and tag != "latest", image
        if rendered.overlay == "dev":
            assert tag == "dev", "make images tags :dev"
        else:
            version = re.search(
                r'^version = "([^"]+)"', (ROOT / "services" / service.name / "pyproject.toml").read_text(), re.M
            )
            assert version and tag == version.group(1), f"{image}: not the package version"


def test_services_are_the_documented_set() -> None:
    assert {s.name for s in SERVICES} == {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}


def test_prod_secrets_are_documented(rendered_all: dict[str, Rendered]) -> None:
    """The Secrets prod expects are in the README, and the External Secrets example fills every key
    the manifests and the prod sources file read."""
    readme = (K8S / "README.md").read_text()
    example = [
        d for d in yaml.safe_load_all((K8S / "overlays" / "prod" / "external-secrets.example.yaml").read_text()) if d
    ]
    filled = {d["spec"]["target"]["name"]: {item["secretKey"] for item in d["spec"]["data"]} for d in example}
    sources = rendered_all["prod"].get("ConfigMap", rendered_name(rendered_all["prod"], SOURCES_CONFIGMAP))
    needed = {name: set(keys) for name, keys in EXTERNAL_SECRETS.items()}
    needed[WEBHOOK_SECRET] = set(re.findall(rf"file:{SECRETS_MOUNT}/([\w.-]+)", sources["data"]["sources.yaml"]))
    for name, keys in needed.items():
        assert f"`{name}`" in readme, f"{name} is not in deploy/k8s/README.md"
        assert keys <= filled.get(name, set()), (
            f"external-secrets.example.yaml: {name} lacks {keys - filled.get(name, set())}"
        )
