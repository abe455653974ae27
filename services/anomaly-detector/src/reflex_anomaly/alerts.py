"""Incidents as Alertmanager alerts (the v2 API's postable alert). Pure.

An alert's identity in Alertmanager is its label set: alertname, source, type (an event type, or
`*` for the source as a whole), kind and severity. A firing alert carries an endsAt in the future
and must be re-sent before it passes (Prometheus sends every minute with endsAt four intervals
ahead; so do we); a resolved one carries endsAt = the resolution time and is sent once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from reflex_anomaly.incidents import Incident

ALERTNAME = "ReflexAnomaly"
# How many resend intervals a firing alert stays valid without being re-sent.
VALIDITY_INTERVALS = 4
_SEVERITY = {"silence": "critical", "drop": "warning", "spike": "warning"}


def severity_of(kind: str) -> str:
    """A silent source is the pipeline's or the sender's outage; a spike or drop is unusual traffic."""
    return _SEVERITY.get(kind, "warning")


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary_of(incident: Incident) -> str:
    return (
        f"{incident.kind} on {incident.source}/{incident.type}: observed {incident.observed:g} vs expected "
        f"{incident.expected:g} (band {incident.lower:.1f}–{incident.upper:.1f}) per {incident.window_s}s window"
    )


def alert_of(incident: Incident, *, now: datetime, resend_interval_s: float, runbook_url: str) -> dict[str, Any]:
    """The alert to POST for `incident` at `now`: firing while open, resolved once it is."""
    if incident.resolved_at is None:
        ends_at = now + timedelta(seconds=VALIDITY_INTERVALS * resend_interval_s)
    else:
        # Never in the future, or it would still fire; never before it started, or it is refused.
        ends_at = max(min(incident.resolved_at, now), incident.opened_at)
    return {
        "labels": {
            "alertname": ALERTNAME,
            "source": incident.source,
            "type": incident.type,
            "kind": incident.kind,
            "severity": severity_of(incident.kind),
        },
        "annotations": {
            "summary": summary_of(incident),
            "description": incident.explanation,
            "runbook_url": runbook_url,
        },
        "startsAt": rfc3339(incident.opened_at),
        "endsAt": rfc3339(ends_at),
    }
