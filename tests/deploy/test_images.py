"""The four Dockerfiles, parsed: what an image must be, checked without a Docker engine.

Built from the repository root with uv in two stages, dependencies in their own layer before the
source, a numeric non-root user, an exec-form entry point that runs the service's own module, and no
secret baked in.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from deploykit import ROOT, SERVICES, Service

SECRETISH = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|_KEY$|DATABASE_URL|REDIS_URL)", re.I)
SECRET_FILES = re.compile(r"(\.env\b|secrets?/|\.pem$|\.key$|id_rsa|sources\.ya?ml$|\.txt$)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int

    @property
    def exec_form(self) -> list[str] | None:
        try:
            value = json.loads(self.args)
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def parse(path: Path) -> list[Instruction]:
    """Instructions with their stage index: comments dropped, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path}: dangling continuation"
    instructions = []
    stage = -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, args.strip(), stage))
    return instructions


@pytest.fixture(params=SERVICES, ids=lambda s: s.name)
def service(request: pytest.FixtureRequest) -> Service:
    return request.param  # type: ignore[no-any-return]


def dockerfile(service: Service) -> list[Instruction]:
    return parse(ROOT / "services" / service.name / "Dockerfile")


def test_two_stages_built_with_uv_from_the_repo_root(service: Service) -> None:
    instructions = dockerfile(service)
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"
    assert re.fullmatch(r"\S+:\S+ AS build", froms[0].args, re.I)
    base_images = {f.args.split()[0] for f in froms}
    assert all(":" in image and not image.endswith(":latest") for image in base_images), base_images
    build = [i for i in instructions if i.stage == 0]
    copies = [i.args for i in build if i.keyword == "COPY"]
    # Paths are relative to the repository root: the lockfile and every workspace member's manifest.
    assert "pyproject.toml uv.lock ./" in copies
    for member in ("libs/common", *(f"services/{s.name}" for s in SERVICES), "tools/reflexctl"):
        assert f"{member}/pyproject.toml {member}/" in copies, member
        assert (ROOT / member / "pyproject.toml").exists(), member
    assert any("--from=ghcr.io/astral-sh/uv:" in c and re.search(r"uv:\d+\.\d+\.\d+ ", c) for c in copies), "pin uv"


def test_dependencies_are_a_layer_before_the_source(service: Service) -> None:
    build = [i for i in dockerfile(service) if i.stage == 0]
    syncs = [n for n, i in enumerate(build) if i.keyword == "RUN" and "uv sync" in i.args]
    assert len(syncs) == 2, "one sync for the dependencies, one for the project"
    first, second = (build[n].args for n in syncs)
    for sync in (first, second):
        assert "--frozen" in sync and "--no-dev" in sync and f"--package {service.package}" in sync
        assert "--mount=type=cache,target=/root/.cache/uv" in sync
    assert "--no-install-workspace" in first
    assert "--no-editable" in second
    source_copies = [
        n
        for n, i in enumerate(build)
        if i.keyword == "COPY"
        and not i.args.split()[0].endswith(("pyproject.toml", "uv.lock"))
        and "--from" not in i.args
    ]
    assert source_copies and syncs[0] < min(source_copies) < syncs[1], "source copied between the two syncs"
    copied = {build[n].args.split()[0] for n in source_copies}
    assert copied == {"libs/common", f"services/{service.name}"}, "only this service and the common library"


def test_runtime_stage_is_the_venv_as_a_numeric_user(service: Service) -> None:
    runtime = [i for i in dockerfile(service) if i.stage == 1]
    copies = [i.args for i in runtime if i.keyword in {"COPY", "ADD"}]
    assert copies == ["--from=build /app/.venv /app/.venv"], copies
    users = [i.args for i in runtime if i.keyword == "USER"]
    assert users and users[-1] == "10001:10001", users
    assert not any(i.keyword == "RUN" for i in runtime), "nothing runs as root in the runtime stage"


def test_entrypoint_runs_the_service_module(service: Service) -> None:
    instructions = dockerfile(service)
    entrypoints = [i for i in instructions if i.keyword == "ENTRYPOINT"]
    assert len(entrypoints) == 1 and entrypoints[0].stage == 1
    argv = entrypoints[0].exec_form
    # Exec form: python is PID 1 and gets SIGTERM itself (no shell in between to swallow it).
    assert argv == ["python", "-m", service.module], entrypoints[0].args
    assert importlib.util.find_spec(f"{service.module}.__main__") is not None
    assert not any(i.keyword == "CMD" and i.exec_form is None for i in instructions), "shell-form CMD"
    stop = [i.args for i in instructions if i.keyword == "STOPSIGNAL"]
    assert stop in ([], ["SIGTERM"])


def test_ports_and_healthcheck(service: Service) -> None:
    runtime = [i for i in dockerfile(service) if i.stage == 1]
    exposed = {p for i in runtime if i.keyword == "EXPOSE" for p in i.args.split()}
    assert exposed == ({"8080", "9090"} if not service.is_worker else {"9090"})
    (health,) = [i for i in runtime if i.keyword == "HEALTHCHECK"]
    port = "9090" if service.is_worker else "8080"
    assert f"http://127.0.0.1:{port}/livez" in health.args


def test_no_secret_is_baked_in(service: Service) -> None:
    for instruction in dockerfile(service):
        if instruction.keyword in {"ENV", "ARG"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", instruction.args) or [instruction.args.split()[0]]
            for name in names:
                assert not SECRETISH.search(name), f"{instruction.keyword} {name}"
        if instruction.keyword in {"COPY", "ADD"}:
            sources = [s for s in shlex.split(instruction.args) if not s.startswith("--")][:-1]
            for source in sources:
                assert not SECRET_FILES.search(source), f"{instruction.keyword} {source}"
                assert "://" not in source, "ADD from a URL"
