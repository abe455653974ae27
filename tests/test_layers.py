"""The architecture, checked: no service imports another, and the pure modules (the consumer loop,
adapters, verifiers, window math, the detector) import no driver — only adapter modules touch redis,
psycopg or aiohttp."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {
    "reflex_ingress": ROOT / "services/ingress/src/reflex_ingress",
    "reflex_processor": ROOT / "services/event-processor/src/reflex_processor",
    "reflex_metrics": ROOT / "services/metric-worker/src/reflex_metrics",
    "reflex_anomaly": ROOT / "services/anomaly-detector/src/reflex_anomaly",
}
DRIVERS = {"redis", "psycopg", "psycopg_pool", "aiohttp"}
PURE = [
    ROOT / "libs/common/src/reflex_common/streams/consumer.py",
    ROOT / "libs/common/src/reflex_common/streams/ports.py",
    ROOT / "libs/common/src/reflex_common/streams/backlog.py",
    ROOT / "libs/common/src/reflex_common/streams/memory_stream.py",
    ROOT / "libs/common/src/reflex_common/schemas",
    ROOT / "services/event-processor/src/reflex_processor/adapters",
    ROOT / "services/event-processor/src/reflex_processor/normalizer.py",
    ROOT / "services/ingress/src/reflex_ingress/sources",
    ROOT / "services/metric-worker/src/reflex_metrics/windowing.py",
    ROOT / "services/anomaly-detector/src/reflex_anomaly/detector.py",
    ROOT / "services/anomaly-detector/src/reflex_anomaly/incidents.py",
    ROOT / "services/anomaly-detector/src/reflex_anomaly/alerts.py",
]


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def python_files(path: Path) -> list[Path]:
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_no_service_imports_another(service: str) -> None:
    others = set(SERVICES) - {service}
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & others) for f in python_files(SERVICES[service])}
    assert {f: o for f, o in offenders.items() if o} == {}


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_driver(path: Path) -> None:
    offenders = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & DRIVERS) for f in python_files(path)}
    assert {f: o for f, o in offenders.items() if o} == {}
