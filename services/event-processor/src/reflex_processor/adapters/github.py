"""GitHub: the event is the `X-GitHub-Event` header, qualified by the body's `action`
("pull_request.opened"); `push` and `ping` have none. The delivery id is a header (the ingress's)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    as_received,
    dig,
    dotted,
    from_iso,
    from_unix,
    parse_body,
    parse_json,
    ref,
    text,
)

# The body key of the object an event is about, where it is not the event's own name.
_SUBJECT_KEYS = {
    "issues": "issue",
    "issue_comment": "comment",
    "commit_comment": "comment",
    "discussion_comment": "comment",
    "pull_request_review": "review",
    "pull_request_review_comment": "comment",
    "push": "head_commit",
    "fork": "forkee",
}
# The subject's timestamps, the one closest to the event first.
_TIME_FIELDS = (
    "updated_at",
    "submitted_at",
    "completed_at",
    "started_at",
    "published_at",
    "timestamp",
    "created_at",
)


def normalize(raw: RawEvent) -> Normalized:
    body = received = parse_body(raw)
    if isinstance(body, dict) and isinstance(body.get("payload"), str) and len(body) == 1:
        body = parse_json(body["payload"])  # a webhook set to application/x-www-form-urlencoded
    event = text(raw.headers.get("x-github-event"))
    subject = dig(body, _SUBJECT_KEYS.get(event, event)) if event is not None else None
    # A push happened when it was pushed, not when its head commit was written (rebases, old branches).
    pushed = from_unix(dig(body, "repository", "pushed_at")) if event == "push" else None
    return Normalized(
        type=dotted(event, dig(body, "action")),
        occurred_at=pushed or _subject_time(subject),
        delivery_key=None,
        entity=_entity(body),
        payload=body,
        payload_json=as_received(raw, body) if body is received else None,
    )


def _subject_time(subject: Any) -> datetime | None:
    """The first of the subject's _TIME_FIELDS that is a timestamp (looking only at fields it has)."""
    if not isinstance(subject, dict):
        return None
    for field in _TIME_FIELDS:
        if field in subject and (at := from_iso(subject[field])) is not None:
            return at
    return None


def _entity(body: Any) -> str | None:
    """`repo:owner/name`, with `#pr:N` or `#issue:N` when the event is about one; else the org."""
    repo = ref("repo", dig(body, "repository", "full_name"))
    if repo is None:
        org = ref("org", dig(body, "organization", "login"))
        return org or ref("installation", dig(body, "installation", "id"))
    pull = text(dig(body, "pull_request", "number"))
    if pull is not None:
        return f"{repo}#pr:{pull}"
    issue = text(dig(body, "issue", "number"))
    if issue is not None:
        # Comments on a pull request arrive as issue_comment events on its issue.
        mark = "pr" if isinstance(dig(body, "issue", "pull_request"), dict) else "issue"
        return f"{repo}#{mark}:{issue}"
    return repo
