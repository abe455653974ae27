"""A cached view of a stream's backlog, so producers can refuse or pause before trimming bites.

Per-request reads of XINFO would cost a Redis round trip per webhook; instead one task refreshes the
figure every refresh_s and callers read the cached value.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.errors import TransientError
from reflex_common.streams.ports import StreamPort


class BacklogMonitor:
    """Tracks the largest unacked backlog (lag + pending) over the groups of one stream."""

    def __init__(
        self, port: StreamPort, stream: str, max_entries: int, refresh_s: float, *, groups: tuple[str, ...] = ()
    ) -> None:
        # Groups that must exist for the backlog to mean anything: created (again) whenever missing,
        # e.g. when Redis was down at start or lost its data.
        self._groups = groups
        self._port = port
        self._stream = stream
        self.max_entries = max_entries
        self._refresh_s = refresh_s
        self.entries = 0
        self.refreshed_at = 0.0
        self.healthy = False
        self._log = structlog.get_logger("backlog").bind(stream=stream)

    async def refresh(self) -> int:
        try:
            groups = await self._port.backlog(self._stream)
            missing = set(self._groups) - {g.group for g in groups}
            if missing:
                for group in sorted(missing):
                    await self._port.ensure_group(self._stream, group)
                groups = await self._port.backlog(self._stream)
        except TransientError as exc:
            self.healthy = False
            self._log.warning("backlog_refresh_failed", error=str(exc))
            raise
        self.entries = max((g.total for g in groups), default=0)
        self.refreshed_at = time.monotonic()
        self.healthy = True
        return self.entries

    @property
    def full(self) -> bool:
        return self.entries >= self.max_entries

    async def is_full(self) -> bool:
        """Backpressure port for consumers: refreshes when the cached figure is stale."""
        if time.monotonic() - self.refreshed_at >= self._refresh_s:
            await self.refresh()
        return self.full

    async def run(self) -> None:
        """Refresh forever (a background task of the ingress)."""
        while True:
            raise_dropped_cancellation()
            try:
                await self.refresh()
            except TransientError:
                pass  # refresh() logged it and marked the figure unhealthy
            except Exception:
                self.healthy = False  # readiness fails while the figure cannot be trusted
                self._log.exception("backlog_refresh_crashed")
            await asyncio.sleep(self._refresh_s)
