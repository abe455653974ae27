"""The alert lifecycle: verdicts per window become incidents that open, hold and resolve. Pure.

One incident at most is open per (source, type, kind). Per judged window of a series:

* a verdict of kind K and no open incident of K → **opened**: the only moment that pages on-call;
* a verdict of kind K while K is open → **held**: no new alert; the last anomalous window and the
  worst observation are updated and the in-band counter goes back to 0;
* no verdict of kind K while K is open → the in-band counter counts one more window; at
  `resolve_after_windows` the incident is **resolved** ("recovered") at that window's end.

A revision (late events changed a window already judged) is fed to `revise`: an incident opened at
that window and never anomalous after it is resolved as "retracted" when the window no longer shows
its kind; a kind found anew in a recent window opens an incident as if it had been seen in time.

Times are window starts in series time (what the windows say), never the wall clock, so the same
input always gives the same incidents: the service and a backtest over a CSV drive this one class.
No I/O here; the handler loads and saves the open incidents, `state()` / `from_state()` give a
JSON-able snapshot for anything else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

SeriesKey = tuple[str, str]  # (source, type)
IncidentKey = tuple[str, str, str]  # (source, type, kind)
TransitionKind = Literal["opened", "held", "resolved"]
Resolution = Literal["recovered", "retracted"]

DEFAULT_RESOLVE_AFTER_WINDOWS = 10


class BandLike(Protocol):
    @property
    def expected(self) -> float: ...
    @property
    def lower(self) -> float: ...
    @property
    def upper(self) -> float: ...


class VerdictLike(Protocol):
    """What the lifecycle needs of a detector's verdict (`reflex_anomaly.detector.Verdict`)."""

    @property
    def kind(self) -> str: ...
    @property
    def observed(self) -> float: ...
    @property
    def band(self) -> BandLike: ...
    @property
    def explanation(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Incident:
    source: str
    type: str
    kind: str
    window_s: int
    opened_at: datetime  # start of the first anomalous window: when the anomaly began
    last_anomalous_at: datetime  # start of the latest window with a verdict of this kind
    last_window_at: datetime  # start of the latest window of the series seen while open
    anomalous_windows: int  # windows with a verdict of this kind
    in_band_windows: int  # windows without one since the last anomalous window
    observed: float  # the worst window's value (highest for a spike, lowest otherwise)
    expected: float  # the worst window's band and explanation
    lower: float
    upper: float
    explanation: str
    resolved_at: datetime | None = None
    resolution: Resolution | None = None

    @property
    def key(self) -> IncidentKey:
        return (self.source, self.type, self.kind)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for name in ("opened_at", "last_anomalous_at", "last_window_at", "resolved_at"):
            if out[name] is not None:
                out[name] = out[name].isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Incident:
        values = dict(data)
        for name in ("opened_at", "last_anomalous_at", "last_window_at", "resolved_at"):
            if values.get(name) is not None:
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Transition:
    kind: TransitionKind
    incident: Incident  # as it is after the transition

    @property
    def alert(self) -> bool:
        """True only where on-call is paged: the window that opened the incident."""
        return self.kind == "opened"


def _worse(kind: str, observed: float, than: float) -> bool:
    return observed > than if kind == "spike" else observed < than


class IncidentBook:
    """The open incidents of some series, and the rules that change them."""

    def __init__(
        self, resolve_after_windows: int = DEFAULT_RESOLVE_AFTER_WINDOWS, incidents: Iterable[Incident] = ()
    ) -> None:
        if resolve_after_windows < 1:
            raise ValueError("resolve_after_windows must be at least 1")
        self.resolve_after_windows = resolve_after_windows
        self._open: dict[IncidentKey, Incident] = {}
        for incident in incidents:
            if not incident.is_open:
                raise ValueError(f"incident {incident.key} is resolved: a book holds open incidents only")
            if incident.key in self._open:
                raise ValueError(f"two open incidents for {incident.key}")
            self._open[incident.key] = incident

    def open_incidents(self, series: SeriesKey | None = None) -> list[Incident]:
        return [i for i in self._open.values() if series is None or (i.source, i.type) == series]

    def observe(
        self, series: SeriesKey, window_start: datetime, window_s: int, verdict: VerdictLike | None
    ) -> list[Transition]:
        """The next window of `series` (in order), with its verdict or None when it is in band."""
        transitions: list[Transition] = []
        for incident in self.open_incidents(series):
            if window_start <= incident.last_window_at:
                continue  # already seen: a repeat changes nothing
            if verdict is not None and verdict.kind == incident.kind:
                transitions.append(self._hold(incident, window_start, verdict))
                continue
            in_band = incident.in_band_windows + 1
            if in_band >= self.resolve_after_windows:
                transitions.append(
                    self._resolve(incident, window_start + timedelta(seconds=window_s), "recovered", window_start)
                )
            else:
                self._open[incident.key] = dataclasses.replace(
                    incident, in_band_windows=in_band, last_window_at=window_start
                )
        if verdict is not None and (series[0], series[1], verdict.kind) not in self._open:
            transitions.append(self._open_new(series, window_start, window_s, verdict, window_start, 0))
        return transitions

    def revise(
        self,
        series: SeriesKey,
        window_start: datetime,
        window_s: int,
        verdict: VerdictLike | None,
        *,
        latest_window_start: datetime,
    ) -> list[Transition]:
        """Window `window_start` of `series`, judged again after a revision, with its new verdict;
        `latest_window_start` is the newest window the series has had (the "now" of the series)."""
        transitions: list[Transition] = []
        for incident in self.open_incidents(series):
            if verdict is not None and verdict.kind == incident.kind:
                transitions.append(self._revise_held(incident, window_start, verdict))
            elif incident.opened_at == window_start == incident.last_anomalous_at:
                # Its only anomalous window was a miscount: the incident never happened.
                end = max(latest_window_start, incident.last_window_at) + timedelta(seconds=window_s)
                transitions.append(self._resolve(incident, end, "retracted", incident.last_window_at))
        if verdict is not None and (series[0], series[1], verdict.kind) not in self._open:
            since = int((latest_window_start - window_start).total_seconds() // window_s)
            if 0 <= since < self.resolve_after_windows:  # had it been seen in time, it would still be open
                transitions.append(self._open_new(series, window_start, window_s, verdict, latest_window_start, since))
        return transitions

    def state(self) -> dict[str, Any]:
        """A JSON-able snapshot; `IncidentBook.from_state` reads it back."""
        return {
            "resolve_after_windows": self.resolve_after_windows,
            "open": [i.to_json() for i in sorted(self._open.values(), key=lambda i: i.key)],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> IncidentBook:
        return cls(int(state["resolve_after_windows"]), [Incident.from_json(i) for i in state["open"]])

    def _open_new(
        self,
        series: SeriesKey,
        window_start: datetime,
        window_s: int,
        verdict: VerdictLike,
        last_window_at: datetime,
        in_band_windows: int,
    ) -> Transition:
        band = verdict.band
        incident = Incident(
            source=series[0],
            type=series[1],
            kind=verdict.kind,
            window_s=window_s,
            opened_at=window_start,
            last_anomalous_at=window_start,
            last_window_at=last_window_at,
            anomalous_windows=1,
            in_band_windows=in_band_windows,
            observed=float(verdict.observed),
            expected=float(band.expected),
            lower=float(band.lower),
            upper=float(band.upper),
            explanation=verdict.explanation,
        )
        self._open[incident.key] = incident
        return Transition("opened", incident)

    def _hold(self, incident: Incident, window_start: datetime, verdict: VerdictLike) -> Transition:
        held = dataclasses.replace(
            self._with_worst(incident, verdict),
            last_anomalous_at=window_start,
            last_window_at=window_start,
            anomalous_windows=incident.anomalous_windows + 1,
            in_band_windows=0,
        )
        self._open[incident.key] = held
        return Transition("held", held)

    def _revise_held(self, incident: Incident, window_start: datetime, verdict: VerdictLike) -> Transition:
        if incident.opened_at == window_start == incident.last_anomalous_at:
            # Its only anomalous window, counted again: the new count is the whole incident.
            held = self._with_worst(incident, verdict, replace=True)
        elif window_start > incident.last_anomalous_at:
            # A window counted in band turned out anomalous: the in-band count restarts after it.
            since = int((incident.last_window_at - window_start).total_seconds() // incident.window_s)
            held = dataclasses.replace(
                self._with_worst(incident, verdict),
                last_anomalous_at=window_start,
                anomalous_windows=incident.anomalous_windows + 1,
                in_band_windows=max(since, 0),
            )
        else:
            held = self._with_worst(incident, verdict)
        self._open[incident.key] = held
        return Transition("held", held)

    @staticmethod
    def _with_worst(incident: Incident, verdict: VerdictLike, replace: bool = False) -> Incident:
        if not replace and not _worse(incident.kind, float(verdict.observed), incident.observed):
            return incident
        band = verdict.band
        return dataclasses.replace(
            incident,
            observed=float(verdict.observed),
            expected=float(band.expected),
            lower=float(band.lower),
            upper=float(band.upper),
            explanation=verdict.explanation,
        )

    def _resolve(
        self, incident: Incident, resolved_at: datetime, resolution: Resolution, last_window_at: datetime
    ) -> Transition:
        del self._open[incident.key]
        resolved = dataclasses.replace(
            incident,
            resolved_at=resolved_at,
            resolution=resolution,
            last_window_at=last_window_at,
            in_band_windows=incident.in_band_windows + (1 if resolution == "recovered" else 0),
        )
        return Transition("resolved", resolved)
