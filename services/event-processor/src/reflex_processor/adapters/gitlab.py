"""GitLab: `object_kind` qualified by what changed: `object_attributes.action` for merge requests,
issues, notes and wiki pages ("merge_request.open"), the status for pipelines, jobs and deployments.
Its timestamps come as ISO-8601 or as "2015-05-17 18:08:09 UTC"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import Normalized, as_received, dig, dotted, from_iso, parse_body, ref, text

# Where each object_kind keeps what happened to it; the others use object_attributes.action.
_QUALIFIERS: dict[str, tuple[str, ...]] = {
    "pipeline": ("object_attributes", "status"),
    "build": ("build_status",),
    "deployment": ("status",),
    "release": ("action",),
    "emoji": ("event_type",),
}
# The event's time, most specific first (push events: the newest commit, which GitLab lists last).
_TIME_PATHS: tuple[tuple[str | int, ...], ...] = (
    ("object_attributes", "updated_at"),
    ("object_attributes", "finished_at"),
    ("object_attributes", "created_at"),
    ("build_finished_at",),
    ("build_started_at",),
    ("build_created_at",),
    ("status_changed_at",),
    ("commits", -1, "timestamp"),
    ("created_at",),
)


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    kind = text(dig(body, "object_kind"))
    qualifier_path = _QUALIFIERS.get(kind or "", ("object_attributes", "action"))
    return Normalized(
        type=dotted(kind, dig(body, *qualifier_path)),
        occurred_at=next(filter(None, (_time(dig(body, *path)) for path in _TIME_PATHS)), None),
        delivery_key=None,
        entity=_entity(body, kind),
        payload=body,
        payload_json=as_received(raw, body),
    )


def _time(value: Any) -> datetime | None:
    if isinstance(value, str) and value.endswith(" UTC"):
        value = value.removesuffix(" UTC") + "+00:00"
    return from_iso(value)


def _entity(body: Any, kind: str | None) -> str | None:
    """`project:group/proj`, with `#mr:<iid>` or `#issue:<iid>` when the event is about one."""
    project = ref("project", dig(body, "project", "path_with_namespace"))
    if project is None:
        return None
    for noun, mark in (("merge_request", "mr"), ("issue", "issue")):
        # Notes (and merge request pipelines) carry the merge request or issue beside their own object.
        iid = text(dig(body, "object_attributes", "iid")) if kind == noun else text(dig(body, noun, "iid"))
        if iid is not None:
            return f"{project}#{mark}:{iid}"
    return project
