"""What a local pipeline leaves for reflexctl: `.run/env`, `KEY=VALUE` lines (an `export ` prefix and
shell quoting allowed) with the URLs and settings `make run` chose. reflexctl reads a variable from the
environment first, else from the `.run/env` of the working directory or the nearest parent that has
one, so it finds the pipeline from anywhere in the repository without anything exported by hand."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

RUN_ENV = Path(".run") / "env"


@dataclass(frozen=True, slots=True)
class Found:
    value: str
    where: str  # "the environment" or the .run/env path


def find_run_env(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / RUN_ENV
        if candidate.is_file():
            return candidate
    return None


def read_run_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        for word in words:
            name, sep, value = word.partition("=")
            if sep and name.isidentifier():
                values[name] = value
    return values


def lookup(name: str) -> Found | None:
    """`name` from the environment (non-empty), else from .run/env, else None."""
    if os.environ.get(name):
        return Found(os.environ[name], "the environment")
    path = find_run_env()
    if path is not None:
        value = read_run_env(path).get(name)
        if value:
            return Found(value, str(path))
    return None
