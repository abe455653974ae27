"""Prometheus gauges of a consumer's input stream: length, lag, pending, oldest pending age, DLQ depth
and entries lost to trimming — refreshed by a side task, read by /metrics."""

from __future__ import annotations

import asyncio
import time

import structlog
from prometheus_client import CollectorRegistry, Gauge

from reflex_common.cancellation import raise_dropped_cancellation
from reflex_common.errors import TransientError
from reflex_common.streams.consumer import ConsumerConfig
from reflex_common.streams.ports import StreamPort

_LABELS = ["stream", "group"]


class StreamGauges:
    def __init__(self, port: StreamPort, config: ConsumerConfig, registry: CollectorRegistry) -> None:
        self._port = port
        self._cfg = config
        self._labels = (config.stream, config.group)
        self.lag = Gauge(
            "reflex_stream_lag_entries", "Entries never delivered to the group.", _LABELS, registry=registry
        )
        self.pending = Gauge(
            "reflex_stream_pending_entries", "Entries delivered but not acked.", _LABELS, registry=registry
        )
        self.oldest_pending_age = Gauge(
            "reflex_stream_oldest_pending_age_seconds",
            "Age of the oldest entry delivered but not acked (0 when none).",
            _LABELS,
            registry=registry,
        )
        self.dlq = Gauge(
            "reflex_stream_dlq_entries", "Entries in the stream's dead-letter stream.", _LABELS, registry=registry
        )
        self.length = Gauge(
            "reflex_stream_length_entries",
            "Entries in the stream; a lag above it means entries were trimmed before the group read them.",
            _LABELS,
            registry=registry,
        )
        self.trimmed = Gauge(
            "reflex_stream_trimmed_entries",
            "Pending entries found deleted by trimming (lost before they were handled); should stay 0.",
            _LABELS,
            registry=registry,
        )

        self.trimmed_unread = Gauge(
            "reflex_stream_trimmed_unread_entries",
            "Entries trimmed from the stream before the group read them (lost unseen); should stay 0.",
            _LABELS,
            registry=registry,
        )
        self._trimmed_unread_seen = -1  # unknown until the first refresh

    async def refresh(self) -> None:
        stats = await self._port.stats(
            self._cfg.stream, self._cfg.group, self._cfg.dlq_stream, self._cfg.trimmed_counter_key
        )
        self.lag.labels(*self._labels).set(stats.lag)
        self.pending.labels(*self._labels).set(stats.pending)
        age_s = 0.0 if stats.oldest_pending_ms is None else max(0.0, time.time() - stats.oldest_pending_ms / 1000)
        self.oldest_pending_age.labels(*self._labels).set(age_s)
        self.dlq.labels(*self._labels).set(stats.dlq_length)
        self.trimmed.labels(*self._labels).set(stats.trimmed)
        self.length.labels(*self._labels).set(stats.length)
        if stats.trimmed_unread is not None and stats.trimmed_unread > self._trimmed_unread_seen:
            # Kept as a high-water mark in the store: once the group reads past the gap, Redis may
            # adjust its read counter and the figure computed now would fall back to 0.
            total = stats.trimmed_unread
            if self._cfg.trimmed_unread_key:
                total = await self._port.keep_max(self._cfg.trimmed_unread_key, stats.trimmed_unread)
            if total > max(0, self._trimmed_unread_seen):
                structlog.get_logger("stream_gauges").error(
                    "unread_entries_trimmed", stream=self._cfg.stream, group=self._cfg.group, total=total
                )
            self._trimmed_unread_seen = total
        if self._trimmed_unread_seen >= 0:
            self.trimmed_unread.labels(*self._labels).set(self._trimmed_unread_seen)

    async def run(self, interval_s: float) -> None:
        log = structlog.get_logger("stream_gauges")
        while True:
            raise_dropped_cancellation()
            try:
                await self.refresh()
            except TransientError as exc:
                log.warning("stream_stats_failed", error=str(exc))
            except Exception:
                log.exception("stream_stats_crashed")
            await asyncio.sleep(interval_s)
