"""Cancellation that a Python 3.11 await dropped, raised again.

On Python 3.11, `asyncio.wait_for` returns the inner result when the inner await finishes in the same
turn as a cancellation of the caller, and the cancellation is lost (CPython gh-86296, fixed in 3.12
by building `wait_for` on `asyncio.timeout`). redis-py wraps every socket write in `wait_for` when a
socket timeout is set, so a task cancelled while it sends a Redis command can carry on as if nothing
happened: a background loop then never ends, and whoever awaits it hangs. The request is still
recorded on the task (`Task.cancelling()`), so it can be honoured right after such a call returns.
"""

from __future__ import annotations

import asyncio


def raise_dropped_cancellation() -> None:
    """Raise CancelledError when the current task has a cancellation request no await delivered."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
