"""Delivers the alert outbox to Alertmanager: a side task of the anomaly-detector.

The handler only writes outbox rows (in its own transaction) and wakes the sender; the sender
claims what is due, POSTs it, and settles it. Alertmanager down or refusing never reaches the
consumer loop: the rows stay, retried after `retry_initial_s`, doubling up to `retry_max_s`. A
firing incident is re-sent every `resend_interval_s` until it resolves; a resolved one once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from prometheus_client import CollectorRegistry, Counter
from psycopg_pool import AsyncConnectionPool

from reflex_anomaly import outbox
from reflex_anomaly.alertmanager import AlertDeliveryError, AlertmanagerClient
from reflex_anomaly.alerts import alert_of
from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.db import transient_db
from reflex_common.errors import TransientError

# Longest sleep between looks at the outbox when nothing is due sooner (another replica, or a row
# written by a process that cannot wake this one).
_MAX_IDLE_S = 5.0
_BATCH = 64


class AlertSender:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        client: AlertmanagerClient,
        registry: CollectorRegistry,
        *,
        resend_interval_s: float,
        retry_initial_s: float,
        retry_max_s: float,
        timeout_s: float,
        runbook_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        self._pool = pool
        self._client = client
        self._resend_interval_s = resend_interval_s
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._lease_s = timeout_s + 5.0
        self._runbook_url = runbook_url
        self._clock = clock
        self._wake = asyncio.Event()
        self._log = structlog.get_logger("alerts")
        self.deliveries = Counter(
            "reflex_alert_deliveries_total",
            "Alerts POSTed to Alertmanager, by outcome (sent, failed).",
            ["outcome"],
            registry=registry,
        )

    def wake(self) -> None:
        """Something was enqueued and committed: look at the outbox now."""
        self._wake.set()

    def retry_in_s(self, attempts: int) -> float:
        """The wait after the (attempts + 1)-th failure in a row."""
        return float(min(self._retry_initial_s * 2.0 ** min(attempts, 32), self._retry_max_s))

    async def deliver_due(self) -> int:
        """One pass: claim up to a batch of due alerts, POST them, settle them. Returns how many
        were sent; raises TransientError (AlertDeliveryError included) after recording a failure."""
        with transient_db():
            async with self._pool.connection() as conn, conn.transaction():
                due = await outbox.claim(conn, _BATCH, self._lease_s)
        if not due:
            return 0
        now = self._clock()
        alerts = [
            alert_of(d.incident, now=now, resend_interval_s=self._resend_interval_s, runbook_url=self._runbook_url)
            for d in due
        ]
        try:
            await self._client.post(alerts)
        except AlertDeliveryError as exc:
            self.deliveries.labels("failed").inc(len(due))
            delays = [self.retry_in_s(d.attempts) for d in due]
            with transient_db():
                async with self._pool.connection() as conn, conn.transaction():
                    await outbox.settle_failed(conn, due, str(exc), delays)
            self._log.warning(
                "alerts_not_delivered", alerts=len(due), error=str(exc), retry_in_s=min(delays), url=self._client.url
            )
            raise
        with transient_db():
            async with self._pool.connection() as conn, conn.transaction():
                await outbox.settle_sent(conn, due, self._resend_interval_s)
        self.deliveries.labels("sent").inc(len(due))
        self._log.info(
            "alerts_delivered",
            firing=sum(1 for d in due if d.incident.is_open),
            resolved=sum(1 for d in due if not d.incident.is_open),
        )
        return len(due)

    async def _idle_s(self) -> float:
        with transient_db():
            async with self._pool.connection() as conn:
                next_due = await outbox.next_due_in_s(conn)
        return _MAX_IDLE_S if next_due is None else min(next_due, _MAX_IDLE_S)

    async def run(self) -> None:
        """Deliver whatever is due, then sleep until the next row is due or the handler wakes us;
        forever: a side task."""
        while True:
            raise_dropped_cancellation()
            self._wake.clear()  # before the pass: a wake during it is kept for the next one
            idle_s = _MAX_IDLE_S
            try:
                with contextlib.suppress(AlertDeliveryError):  # recorded and logged where it happened
                    while await self.deliver_due() == _BATCH:
                        pass
                idle_s = await self._idle_s()
            except TransientError as exc:
                self._log.warning("alert_outbox_unavailable", error=str(exc))
            except Exception:
                # Not an outage: log it loudly and try again rather than stop delivering for good.
                self._log.exception("alert_sender_crashed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle_s)
