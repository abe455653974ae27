"""What the monitoring tests share: where the rules and the dashboard are, and promtool.

promtool comes from Debian's `prometheus` package. It is used from PATH when installed; otherwise the
package is fetched with `apt-get download` (no install: its service is never set up) and only
promtool is unpacked into a cache folder, so the first run on a machine downloads ~20 MB and later
runs nothing. Where neither works, `promtool()` says why and the tests that need it skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "rules"
RULE_TESTS = Path(__file__).parent / "rules"
RUNBOOKS = ROOT / "docs" / "runbooks"
DEBIAN_PACKAGE = "prometheus"


# What the promtool runs said, shown at the end of the test run (conftest's terminal summary).
TRANSCRIPT: list[str] = []


def show(text: str) -> None:
    """Keep `text` for the end-of-run summary (and print it, for `pytest -s`)."""
    TRANSCRIPT.append(text.strip("\n"))
    print("\n" + text)


@dataclass(frozen=True)
class Promtool:
    path: Path | None
    why_missing: str = ""

    def run(self, *args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
        assert self.path is not None, self.why_missing
        return subprocess.run(
            [str(self.path), *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reflexagent" / "promtool"


def _candidate_version() -> str | None:
    if not shutil.which("apt-cache"):
        return None
    shown = subprocess.run(
        ["apt-cache", "policy", DEBIAN_PACKAGE], capture_output=True, text=True, timeout=60, check=False
    )
    for line in shown.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            version = line.split(":", 1)[1].strip()
            return None if version == "(none)" else version
    return None


def _download(version: str, target: Path) -> str:
    """Unpack promtool of `prometheus=version` into target; '' on success, else what went wrong."""
    with tempfile.TemporaryDirectory() as work:
        fetched = subprocess.run(
            ["apt-get", "download", f"{DEBIAN_PACKAGE}={version}"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        debs = list(Path(work).glob("*.deb"))
        if fetched.returncode != 0 or not debs:
            return f"apt-get download {DEBIAN_PACKAGE}={version} failed: {fetched.stderr.strip()[-300:]}"
        unpacked = Path(work) / "root"
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], check=True, timeout=120)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        shutil.copy2(unpacked / "usr" / "bin" / "promtool", partial)
        partial.replace(target)  # atomic: a concurrent run never sees half a binary
    return ""


@cache
def promtool() -> Promtool:
    found = shutil.which("promtool")
    if found:
        return Promtool(Path(found))
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        return Promtool(None, "promtool is not on PATH and this is no Debian system (install Prometheus's promtool)")
    version = _candidate_version()
    if version is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, timeout=300, check=False)
        version = _candidate_version()
    if version is None:
        return Promtool(None, f"promtool is not on PATH and apt knows no {DEBIAN_PACKAGE} package (apt-get update?)")
    target = _cache_dir() / version / "promtool"
    if not target.exists():
        problem = _download(version, target)
        if problem:
            return Promtool(None, f"promtool is not on PATH and could not be fetched: {problem}")
    return Promtool(target)


# -- the rules -------------------------------------------------------------------------------------


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.yaml"))


def rule_groups(files: Sequence[Path] | None = None) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in files or rule_files():
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


def alerts() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for group in rule_groups():
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["alert"] not in found, f"alert {rule['alert']} defined twice"
                found[rule["alert"]] = rule
    return found
