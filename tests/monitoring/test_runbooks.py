"""The runbooks of docs/runbooks: one per alert, where its runbook_url points, each saying what the
alert means, what to look at and how to fix it, with reflexctl commands that reflexctl accepts."""

from __future__ import annotations

import re
import shlex

import pytest
from promkit import ROOT, RUNBOOKS, alerts

from reflexctl.__main__ import build_parser

SECTIONS = ("**Meaning.**", "**Look at.**", "**Fix.**")
# `reflexctl …` in inline code or at the start of a line of a shell block, up to a comment or the end.
# What a placeholder (`<kind>`) stands for when the command is parsed; others become "raw".
PLACEHOLDERS = {"kind": "github", "public host": "example.org", "ingress": "example.org"}
COMMAND = re.compile(r"(?:`|^)(reflexctl [^`#\n]+)", re.M)


def commands_in(text: str) -> list[str]:
    return [match.group(1).strip() for match in COMMAND.finditer(text)]


@pytest.mark.parametrize("name", sorted(alerts()))
def test_each_alert_has_its_runbook(name: str) -> None:
    path = ROOT / alerts()[name]["annotations"]["runbook_url"]
    assert path.parent == RUNBOOKS and path.name == f"{name}.md", path
    text = path.read_text()
    assert text.startswith(f"# {name}\n")
    for section in SECTIONS:
        assert section in text, f"{path.name}: no {section}"
    assert "reflexctl" in text, f"{path.name}: no reflexctl command"


@pytest.mark.parametrize("path", sorted(RUNBOOKS.glob("*.md")), ids=lambda p: p.name)
def test_runbook_commands_are_ones_reflexctl_accepts(path: object) -> None:
    """Every `reflexctl …` a runbook shows parses with reflexctl's own parser (placeholders filled)."""
    assert hasattr(path, "read_text")
    for command in commands_in(path.read_text()):
        filled = re.sub(r"<([^>]+)>", lambda m: PLACEHOLDERS.get(m.group(1), "raw"), command).replace("…", "")
        argv = shlex.split(filled)[1:]
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"{path.name}: reflexctl rejects `{command}`") from exc


def test_the_runbook_index_lists_every_alert() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for name in alerts():
        assert f"[{name}.md]({name}.md)" in index, name
    pages = {p.stem for p in RUNBOOKS.glob("Reflex*.md")}
    # ReflexAnomaly.md is the anomaly-detector's own page (issue 7), linked from ReflexAnomalyOpen.md.
    assert pages - {"ReflexAnomaly"} == set(alerts()), "a runbook without an alert, or the reverse"


def test_command_extraction_finds_what_it_should() -> None:
    text = "Run `reflexctl status`.\n```sh\nreflexctl dlq list --stream raw   # letters\n```\n"
    assert commands_in(text) == ["reflexctl status", "reflexctl dlq list --stream raw"]
