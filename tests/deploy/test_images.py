"""The one Dockerfile, parsed once per service as `--build-arg SERVICE=<service>` resolves it: what
each image must be, checked without a Docker engine.

Built from the repository root with uv in two stages, dependencies in their own layer before the
source, a numeric non-root user, an exec-form entry point that runs the service's own module, and no
secret baked in. The build stage's shell (the SERVICE → package table) is run here as the build runs
it, so a service missing from it, or a wrong package, fails here too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from deploykit import DOCKERFILE, ROOT, SERVICES, Service

SECRETISH = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY|_KEY$|DATABASE_URL|REDIS_URL)", re.I)
SECRET_FILES = re.compile(r"(\.env\b|secrets?/|\.pem$|\.key$|id_rsa|sources\.ya?ml$|\.txt$)")
# Instructions whose arguments the Dockerfile itself expands ($VAR, ${VAR...}); the others (RUN, CMD,
# ENTRYPOINT, HEALTHCHECK) reach a shell or the kernel as written.
EXPANDED = {"ADD", "ARG", "COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
# ${NAME}, ${NAME:-word}, ${NAME:+word}, ${NAME#prefix} (a literal prefix), $NAME.
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\+|#)(?P<word>[^}]*))?\}|\$(?P<bare>\w+)")
PACKAGE_FILE = "/src/package"
ENTRYPOINT = "/app/.venv/bin/reflex-service"


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
    """Instructions with their stage index (-1 before the first FROM): comments dropped,
    continuation lines joined."""
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


def expand(text: str, values: Mapping[str, str]) -> str:
    """The Dockerfile's variable expansion; a variable it does not know (PATH of the base image) stays."""

    def one(match: re.Match[str]) -> str:
        name = match.group("name") or match.group("bare")
        if name not in values:
            return match.group(0)
        value, op, word = values[name], match.group("op"), match.group("word")
        if op == ":-":
            return value or word
        if op == ":+":
            return word if value else ""
        if op == "#":
            return value.removeprefix(word)
        return value

    return VARIABLE.sub(one, text)


def assignments(args: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in shlex.split(args))


def resolve(instructions: list[Instruction], build_args: Mapping[str, str]) -> list[Instruction]:
    """The instructions as the build with these --build-arg values sees them: ARG and ENV tracked per
    stage, a stage's bare `ARG NAME` taking the build argument or the global default."""
    global_args: dict[str, str] = {}
    values: dict[str, str] = {}
    stage = -1
    resolved = []
    for instruction in instructions:
        if instruction.stage != stage:
            stage, values = instruction.stage, {}
        args = expand(instruction.args, {**global_args, **values} if stage < 0 else values)
        if instruction.keyword == "ARG":
            name, has_default, default = instruction.args.partition("=")
            scope = global_args if stage < 0 else values
            if name in build_args:
                scope[name] = build_args[name]
            elif has_default:
                scope[name] = expand(default, scope)
            elif name in global_args:
                scope[name] = global_args[name]
        elif instruction.keyword == "ENV":
            values.update(assignments(args))
        resolved.append(replace(instruction, args=args if instruction.keyword in EXPANDED else instruction.args))
    return resolved


def dockerfile(service: Service) -> list[Instruction]:
    return resolve(parse(DOCKERFILE), {"SERVICE": service.name})


@pytest.fixture(params=SERVICES, ids=lambda s: s.name)
def service(request: pytest.FixtureRequest) -> Service:
    return request.param  # type: ignore[no-any-return]


def package_table_run() -> Instruction:
    """The build stage's RUN that turns SERVICE into the package's name, in PACKAGE_FILE."""
    (run,) = [i for i in parse(DOCKERFILE) if i.keyword == "RUN" and f"> {PACKAGE_FILE}" in i.args]
    return run


def run_package_table(service_arg: str | None, workdir: Path) -> subprocess.CompletedProcess[str]:
    """That RUN, run by sh as the build runs it (the ARG is in its environment), writing to workdir."""
    script = package_table_run().args.replace(PACKAGE_FILE, str(workdir / "package"))
    env = {"PATH": "/usr/bin:/bin"} | ({"SERVICE": service_arg} if service_arg is not None else {})
    return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=False)


def test_one_dockerfile_builds_every_service() -> None:
    """services/ holds the four services and no Dockerfile: the root one builds them all."""
    assert {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")} == {s.name for s in SERVICES}
    assert not list((ROOT / "services").glob("*/Dockerfile")), "a per-service Dockerfile is back"
    args = [i.args for i in parse(DOCKERFILE) if i.keyword == "ARG"]
    assert args.count("SERVICE") == 3, "declared globally and taken into both stages, with no default"


def test_the_service_argument_names_the_package(service: Service, tmp_path: Path) -> None:
    done = run_package_table(service.name, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "package").read_text().strip() == service.package
    pyproject = tomllib.loads((ROOT / "services" / service.name / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == service.package


@pytest.mark.parametrize("service_arg", [None, "", "nope", "tools/reflexctl", "ingress "])
def test_an_unknown_or_missing_service_fails_the_build_clearly(service_arg: str | None, tmp_path: Path) -> None:
    done = run_package_table(service_arg, tmp_path)
    assert done.returncode != 0
    assert "--build-arg SERVICE=" in done.stderr and all(s.name in done.stderr for s in SERVICES), done.stderr
    assert not (tmp_path / "package").exists() or not (tmp_path / "package").read_text().strip()
    build = parse(DOCKERFILE)
    first_download = min(n for n, i in enumerate(build) if i.keyword == "RUN" and "uv sync" in i.args)
    assert build.index(package_table_run()) < first_download, "refused before anything is downloaded"


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
    # The package is the one the SERVICE table wrote (test_the_service_argument_names_the_package).
    table = next(n for n, i in enumerate(build) if i.keyword == "RUN" and f"> {PACKAGE_FILE}" in i.args)
    assert table < syncs[0]
    for sync in (first, second):
        assert "--frozen" in sync and "--no-dev" in sync and f'--package "$(cat {PACKAGE_FILE})"' in sync
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
    # Exec form: the console script's python is PID 1 and gets SIGTERM itself (no shell in between).
    assert entrypoints[0].exec_form == [ENTRYPOINT], entrypoints[0].args
    # That path is made in the build stage, in the venv the runtime copies, after the project is
    # installed: a link to the console script of the package the SERVICE table names ...
    build = [i for i in instructions if i.stage == 0]
    links = [n for n, i in enumerate(build) if i.keyword == "RUN" and ENTRYPOINT in i.args]
    assert len(links) == 1 and build[links[0]].args == f'ln -s "$(cat {PACKAGE_FILE})" {ENTRYPOINT}'
    assert links[0] > max(n for n, i in enumerate(build) if i.keyword == "RUN" and "uv sync" in i.args)
    # ... and that script, in the service's own pyproject, runs the service's own module.
    scripts = tomllib.loads((ROOT / "services" / service.name / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[service.package] == f"{service.module}.__main__:main", scripts
    assert importlib.util.find_spec(f"{service.module}.__main__") is not None
    assert not any(i.keyword == "CMD" and i.exec_form is None for i in instructions), "shell-form CMD"
    stop = [i.args for i in instructions if i.keyword == "STOPSIGNAL"]
    assert stop in ([], ["SIGTERM"])


def test_labels_name_the_service(service: Service) -> None:
    runtime = [i for i in dockerfile(service) if i.stage == 1]
    labels = {k: v for i in runtime if i.keyword == "LABEL" for k, v in assignments(i.args).items()}
    assert labels["org.opencontainers.image.title"] == f"reflexagent/{service.name}"
    assert f"services/{service.name}/" in labels["org.opencontainers.image.description"]


def test_ports_and_healthcheck(service: Service) -> None:
    runtime = [i for i in dockerfile(service) if i.stage == 1]
    exposed = {p for i in runtime if i.keyword == "EXPOSE" for p in i.args.split()}
    assert exposed == ({"8080", "9090"} if not service.is_worker else {"9090"})
    (health,) = [i for i in runtime if i.keyword == "HEALTHCHECK"]
    port = "9090" if service.is_worker else "8080"
    # The exec-form check expands nothing itself: it reads the URL the Dockerfile put in its environment.
    assert "os.environ['LIVEZ_URL']" in health.args
    env = {k: v for i in runtime if i.keyword == "ENV" for k, v in assignments(i.args).items()}
    assert env["LIVEZ_URL"] == f"http://127.0.0.1:{port}/livez"


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
