"""PROVISIONAL (replaced by the issue-7b branch's module): open / hold / resolve per (source, type, kind)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reflex_anomaly.detector import Verdict


@dataclass
class Incident:
    kind: str
    opened_at: datetime
    in_band: int = 0


@dataclass(frozen=True)
class Transition:
    kind: Literal["opened", "held", "resolved"]
    incident: Incident


class IncidentBook:
    def __init__(self, resolve_after_windows: int) -> None:
        self.resolve_after = resolve_after_windows
        self.open: dict[tuple[str, str, str], Incident] = {}

    def observe(
        self, key: tuple[str, str], window_start: datetime, window_s: int, verdict: Verdict | None
    ) -> list[Transition]:
        out: list[Transition] = []
        for (s, t, kind), inc in list(self.open.items()):
            if (s, t) != key or (verdict is not None and verdict.kind == kind):
                continue
            inc.in_band += 1
            if inc.in_band >= self.resolve_after:
                del self.open[(s, t, kind)]
                out.append(Transition("resolved", inc))
        if verdict is not None:
            k = (*key, verdict.kind)
            inc = self.open.get(k)
            if inc is None:
                inc = self.open[k] = Incident(verdict.kind, window_start)
                out.append(Transition("opened", inc))
            else:
                inc.in_band = 0
                out.append(Transition("held", inc))
        return out
