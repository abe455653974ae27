"""deploy/compose.yaml, checked without a Docker engine: valid against the Compose Specification's
JSON Schema, and the services wired as the pipeline needs them."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploykit import CHECK_JSONSCHEMA, DEPLOY, DOCKERFILE, ROOT, SERVICES, uv_tool

COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_matches_the_compose_specification() -> None:
    result = uv_tool(CHECK_JSONSCHEMA, "check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    print(f"\n$ check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml\n  {result.stdout.strip()}")
    assert result.returncode == 0, result.shown


def docker_compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not docker_compose_available(), reason="the docker compose plugin is not installed here")
def test_docker_compose_config() -> None:
    done = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "-q"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_redis_and_postgres_as_the_pipeline_needs_them(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"redis", "postgres", "otel-collector", *(s.name for s in SERVICES)}
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(redis["command"])
    for setting in ("--appendonly yes", "--appendfsync everysec", "--maxmemory-policy noeviction"):
        assert setting in command
    assert services["postgres"]["image"].startswith("postgres:16")
    for name in ("redis", "postgres"):
        assert services[name]["healthcheck"]["test"], name
        assert any(v.endswith(("/data", "/var/lib/postgresql/data")) for v in services[name]["volumes"]), name
    collector = services["otel-collector"]
    assert collector["image"].startswith("otel/opentelemetry-collector-contrib:")
    assert not collector["image"].endswith(":latest")


def test_services_built_from_the_dockerfile_with_their_name(compose: dict[str, Any]) -> None:
    for service in SERVICES:
        spec = compose["services"][service.name]
        build = spec["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT, "built from the repository root"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
        assert build["args"] == {"SERVICE": service.name}, "the one build argument, naming the service"
        assert spec["image"] == f"reflexagent/{service.name}:dev", "the tag `make images` builds"
        assert spec["user"] == "10001:10001" and spec["read_only"] is True
        assert "/tmp" in spec["tmpfs"] and spec["cap_drop"] == ["ALL"]
        assert spec["healthcheck"]["test"]
        env = spec["environment"]
        assert env["OTEL_SERVICE_NAME"] == f"reflex-{service.name}"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        depends = spec["depends_on"]
        assert depends["redis"]["condition"] == "service_healthy"
        if service.is_worker:
            assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
            assert depends["postgres"]["condition"] == "service_healthy"
            assert float(env["DRAIN_GRACE_S"]) < float(spec["stop_grace_period"].rstrip("s"))
        module, cls = service.settings.split(":")
        settings = getattr(importlib.import_module(module), cls)
        fields = {f.upper() for f in settings.model_fields}
        for var in env:
            assert var in fields or var.startswith("OTEL_") or var == "DEMO_WEBHOOK_SECRET", f"{service.name}: {var}"
    ports = compose["services"]["ingress"]["ports"]
    assert "127.0.0.1:8080:8080" in ports


def test_mounted_files_exist_and_load(compose: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reflex_ingress.sources.config import load_sources
    from reflex_ingress.sources.registry import build_sources

    mounted = {}
    for spec in compose["services"].values():
        for volume in spec.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                path = (COMPOSE.parent / source).resolve()
                assert path.is_file(), source
                mounted[target] = path
    sources_file = compose["services"]["ingress"]["environment"]["SOURCES_FILE"]
    monkeypatch.setenv("DEMO_WEBHOOK_SECRET", "a-secret-for-the-test")
    assert build_sources(load_sources(mounted[sources_file]))
    collector = yaml.safe_load(mounted["/etc/otelcol/config.yaml"].read_text())
    assert {"grpc", "http"} <= set(collector["receivers"]["otlp"]["protocols"])
