"""Every Redis key and consumer-group name the pipeline uses, in one place.

All keys hang under one prefix so that several pipelines (or several test runs) can share a Redis
server without touching each other's data.
"""

from __future__ import annotations

from dataclasses import dataclass

PROCESSOR_GROUP = "event-processor"
METRICS_GROUP = "metric-worker"
ANOMALY_GROUP = "anomaly-detector"


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "reflex"

    @property
    def raw_stream(self) -> str:
        """Verified webhooks as received: ingress → event-processor."""
        return f"{self.prefix}:stream:raw"

    @property
    def events_stream(self) -> str:
        """Normalized domain events: event-processor → metric-worker."""
        return f"{self.prefix}:stream:events"

    @property
    def windows_stream(self) -> str:
        """Closed per-minute count windows: metric-worker → anomaly-detector."""
        return f"{self.prefix}:stream:windows"

    def dlq_stream(self, stream: str) -> str:
        """Dead letters of one stream, kept beside it."""
        return f"{stream}:dlq"

    def trimmed_counter(self, stream: str) -> str:
        """How many pending entries of `stream` were found trimmed away (XAUTOCLAIM deleted ids)."""
        return f"{stream}:trimmed"

    def trimmed_unread_counter(self, stream: str, group: str) -> str:
        """The most entries of `stream` ever seen trimmed before `group` read them (kept as a high-water
        mark: Redis's own read counter may later paper over the gap)."""
        return f"{stream}:trimmed_unread:{group}"

    def breaker(self, stream: str, group: str) -> str:
        """Set (with the cool-down as TTL) while the group's dead-letter breaker is open; its value is
        the reason. Deleted by `reflexctl breaker close`."""
        return f"{stream}:breaker:{group}"

    def dedup_key(self, source: str, delivery_key: str) -> str:
        """Ingress dedup marker for a sender's natural delivery key."""
        return f"{self.prefix}:dedup:{source}:{delivery_key}"
