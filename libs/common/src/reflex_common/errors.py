"""The small error vocabulary. Each docstring says what the caller must do."""

from __future__ import annotations


class ReflexError(Exception):
    """Base class of the errors below."""


class TransientError(ReflexError):
    """A dependency is down or overloaded (database unreachable, Redis timeout).

    The caller must retry the same work later, with backoff. It never counts toward dead-lettering:
    the message is not at fault.
    """


class InvalidMessage(ReflexError):
    """The message can never be handled: it breaks the wire schema or the adapter's contract.

    The caller must dead-letter it at once; retrying cannot help.
    """


class ConfigError(ReflexError):
    """The service was configured wrongly. The caller must crash at start with this message."""


class GroupMissing(ReflexError):
    """The consumer group (or its whole stream) is gone: FLUSHALL, DEL, XGROUP DESTROY, or Redis
    restored from an older AOF or RDB.

    The caller must re-create the group from the stream's start (XGROUP CREATE … 0 MKSTREAM), count
    it, log it loudly and go on: every effect downstream is idempotent on the event's id, so a replay
    stores nothing twice.
    """
