"""The consumer janitor: every pod lifetime leaves a consumer name in its group (pod names change),
and XINFO CONSUMERS grows forever. Consumers idle longer than a bound with nothing pending are
removed (XGROUP DELCONSUMER) — never one that holds pending entries (deleting it would drop them
from the pending list: lost), and never ourselves. Checked and removed atomically in the store."""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import CollectorRegistry, Counter

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.errors import GroupMissing, TransientError
from reflex_common.streams.ports import StreamPort


class ConsumerJanitor:
    def __init__(
        self, port: StreamPort, stream: str, group: str, me: str, idle_max_s: float, registry: CollectorRegistry
    ) -> None:
        self._port = port
        self._stream = stream
        self._group = group
        self._me = me
        self._idle_max_ms = int(idle_max_s * 1000)
        self.removed = Counter(
            "reflex_consumer_janitor_removed_total",
            "Idle consumers with nothing pending removed from the group.",
            ["stream", "group"],
            registry=registry,
        )
        self._log = structlog.get_logger("janitor").bind(stream=stream, group=group)

    async def sweep(self) -> list[str]:
        removed = await self._port.remove_idle_consumers(self._stream, self._group, self._me, self._idle_max_ms)
        if removed:
            self.removed.labels(self._stream, self._group).inc(len(removed))
            self._log.info("idle_consumers_removed", consumers=removed[:20], count=len(removed))
        return removed

    async def run(self, interval_s: float) -> None:
        while True:
            raise_dropped_cancellation()
            await asyncio.sleep(interval_s)
            try:
                await self.sweep()
            except (TransientError, GroupMissing) as exc:
                self._log.warning("janitor_failed", error=str(exc))
            except Exception:
                self._log.exception("janitor_crashed")
