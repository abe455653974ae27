"""What a verifier sees of an HTTP request, and what it answers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reflex_common.errors import ReflexError


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    # The public URL the sender signed (scheme and host as the sender saw them), with the query.
    url: str
    # Lower-cased header names; repeated headers joined with ", ".
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    content_type: str = ""

    def __post_init__(self) -> None:
        # Header names are case-insensitive: keep them lower-cased whoever builds the request.
        # all(islower) in C; a name with no cased character (never a real header) is rebuilt too.
        if not all(map(str.islower, self.headers)):
            object.__setattr__(self, "headers", {k.lower(): v for k, v in self.headers.items()})

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Reply:
    """A synchronous answer (a provider's endpoint challenge); nothing is queued for it."""

    status: int
    body: bytes
    content_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class Verified:
    # The sender's natural dedup key (GitHub's delivery id, Stripe's event id, ...), if any.
    delivery_key: str | None = None
    # Which configured secret matched (by index, never the secret itself).
    secret_index: int | None = None
    reply: Reply | None = None
    # Lower-cased names of headers that carried authentication material under names the ingress
    # cannot recognise (a token in `X-Api-Key`): never stored with the event.
    secret_headers: frozenset[str] = frozenset()
    # The body to store instead of the one received, when the body carries a configured secret
    # (Graph's clientState, Slack's verification token) that must never reach the stream.
    stored_body: bytes | None = None


class Rejected(ReflexError):
    """The one refusal of the ingress: answer `status` with `reason` (our words, never request bytes
    or parser internals) and store nothing. Raised by verifiers and by every step of the request
    path; one error middleware renders it as `{"error": reason, **extra}`, with `Retry-After` when
    `retry_after_s` is set, and closes the connection when `close` is set (a body left unread)."""

    def __init__(
        self,
        status: int,
        reason: str,
        *,
        retry_after_s: int | None = None,
        extra: Mapping[str, Any] | None = None,
        close: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.extra = dict(extra or {})
        self.close = close
