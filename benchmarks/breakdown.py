"""A stage breakdown: µs per event in each named step of a stage, measured in this process.

A stage lists its steps (see `ingress_steps`, `processor_steps`): each takes the state of one batch,
does its part of the work on every event of the batch, and leaves its output on the state for the
next step. `measure` runs the steps in order over a fresh batch (built untimed by `fresh`), one
batch at a time and nothing else running on the loop, so a step's wall time is that step's alone;
it takes both clocks around every step — CPU time of this thread (`time.thread_time_ns`) and wall
time — divides by the batch size, repeats, and reports the median of each. A step is `cpu` (pure:
its CPU time is the figure) or `wall` (it awaits I/O: its wall time is the figure, its CPU time
is what this side spent packing and parsing). The first run is a warm-up and is not counted.
"""

from __future__ import annotations

import inspect
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

Clock = Literal["cpu", "wall"]
S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class Step(Generic[S]):
    name: str
    clock: Clock
    run: Callable[[S], object]  # may return an awaitable (a `wall` step), which is awaited


@dataclass(frozen=True, slots=True)
class StepTime:
    step: str
    clock: Clock
    cpu_us: float  # median µs of CPU per event (this thread)
    wall_us: float | None  # median µs of wall time per event (None: not measured)

    @property
    def us(self) -> float:
        """The step's figure: CPU for a pure step, wall for one that awaits I/O."""
        return self.cpu_us if self.clock == "cpu" or self.wall_us is None else self.wall_us


@dataclass(frozen=True, slots=True)
class Breakdown:
    stage: str
    events_per_run: int
    runs: int
    steps: list[StepTime] = field(default_factory=list)
    note: str = ""

    @property
    def total_us(self) -> float:
        return sum(s.us for s in self.steps)


async def measure(
    stage: str,
    steps: Sequence[Step[S]],
    fresh: Callable[[], Awaitable[S]],
    events: int,
    runs: int,
    note: str = "",
) -> Breakdown:
    """Median µs per event of each step over `runs` batches of `events` (after one warm-up batch)."""
    cpu: dict[str, list[float]] = {s.name: [] for s in steps}
    wall: dict[str, list[float]] = {s.name: [] for s in steps}
    for run in range(runs + 1):
        state = await fresh()
        for step in steps:
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            out = step.run(state)
            if inspect.isawaitable(out):
                await out
            c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
            if run:
                cpu[step.name].append((c1 - c0) / 1000 / events)
                wall[step.name].append((w1 - w0) / 1000 / events)
    figures = [
        StepTime(s.name, s.clock, statistics.median(cpu[s.name]), statistics.median(wall[s.name])) for s in steps
    ]
    return Breakdown(stage, events, runs, figures, note)


def format_breakdown(b: Breakdown) -> list[str]:
    """The table printed beside the summary: one line per step, then the total."""
    rows = [("step", "clock", "µs/event", "cpu µs", "wall µs", "share")]
    total = b.total_us or 1.0
    for s in b.steps:
        rows.append(
            (
                s.step,
                s.clock,
                f"{s.us:.1f}",
                f"{s.cpu_us:.1f}",
                f"{s.wall_us:.1f}" if s.wall_us is not None else "-",
                f"{s.us / total:.0%}",
            )
        )
    rows.append(("total", "", f"{b.total_us:.1f}", "", "", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    over = f"median of {b.runs} batches of {b.events_per_run}" if b.runs > 1 else f"{b.events_per_run:,} events"
    lines = [f"{b.stage}: µs per event, {over}" + (f" ({b.note})" if b.note else "")]
    for i, r in enumerate(rows):
        lines.append("  " + "  ".join(c.rjust(widths[j]) if j > 1 else c.ljust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines
