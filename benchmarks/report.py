"""Results of a bench run: one Result per benchmark, the lines printed, the summary table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.breakdown import Breakdown, format_breakdown


def say(text: str = "") -> None:
    print(text, flush=True)


@dataclass
class Result:
    name: str
    summary: str  # the line printed for it
    value: float
    unit: str
    baseline: float | None
    baseline_label: str | None
    ratio: float | None
    target: str
    met: bool
    details: dict[str, Any] = field(default_factory=dict)
    breakdown: Breakdown | None = None  # µs per event in each step of the stage


def fmt(value: float) -> str:
    return f"{value:,.0f}"


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def print_summary(results: list[Result]) -> None:
    header = ("benchmark", "result", "baseline", "ratio", "target", "status")
    rows = [header]
    for r in results:
        rows.append(
            (
                r.name,
                f"{fmt(r.value)} {r.unit}",
                f"{fmt(r.baseline)} {r.unit}" if r.baseline is not None else "-",
                f"{r.ratio:.2f}" if r.ratio is not None else "-",
                r.target,
                verdict(r.met),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    say()
    say("summary")
    for i, row in enumerate(rows):
        say("  " + "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
        if i == 0:
            say("  " + "  ".join("-" * w for w in widths))


def print_breakdowns(results: list[Result]) -> None:
    for r in results:
        if r.breakdown is not None:
            say()
            for line in format_breakdown(r.breakdown):
                say(line)
