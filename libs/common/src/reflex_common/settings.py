"""Settings shared by every service: frozen pydantic-settings models read from the environment.

`main()` of each service builds its settings once and passes them down; tests build them directly.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reflex_common.keys import Keys


def default_consumer_name() -> str:
    """A stable consumer name: the pod name (Downward API) or the host name."""
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


S = TypeVar("S", bound="CommonSettings")


def load_settings(cls: type[S], service: str) -> S:
    """Read settings from the environment; a bad value stops the service with one line naming the
    variable (exit code 2), never a stack trace."""
    try:
        return cls()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        print(f"{service}: configuration error: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "reflex"
    log_level: str = "info"
    # Port of /metrics, /livez and /readyz (workers) or /metrics (ingress).
    health_port: int = 9090
    # Approximate MAXLEN on every XADD of the pipeline's streams.
    stream_maxlen: int = Field(default=1_000_000, ge=1000)
    # Producers refuse (ingress: 429) or pause (workers) once a stream's unread + pending entries reach
    # this bound, so that MAXLEN trimming can never reach an entry a group has not yet read.
    max_backlog_entries: int = Field(default=800_000, ge=1)
    # How often producers refresh the backlog they compare with max_backlog_entries.
    backlog_refresh_s: float = Field(default=0.5, gt=0)

    @model_validator(mode="after")
    def _backlog_below_maxlen(self) -> CommonSettings:
        # Keep a margin of 10% of MAXLEN: writes keep arriving during one backlog refresh.
        if self.max_backlog_entries > self.stream_maxlen * 0.9:
            raise ValueError(
                f"max_backlog_entries ({self.max_backlog_entries}) must be at most 90% of stream_maxlen "
                f"({self.stream_maxlen}), or trimming could delete entries not yet read"
            )
        return self

    @property
    def keys(self) -> Keys:
        return Keys(self.key_prefix)


class WorkerSettings(CommonSettings):
    """Settings of a stream consumer (event-processor, metric-worker, anomaly-detector)."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    consumer_name: str = Field(default_factory=default_consumer_name)
    batch_size: int = Field(default=500, ge=1)
    # Entries held by this consumer at once; XREADGROUP COUNT never exceeds the free slots.
    max_in_flight: int = Field(default=1000, ge=1)
    # Batches handled at once (see ConsumerConfig.max_concurrent_batches).
    max_concurrent_batches: int = Field(default=1, ge=1, le=16)
    block_ms: int = Field(default=2000, ge=1)
    # After a read that returned a partial batch, wait this long before the next read, so that under
    # a steady flow batches fill instead of carrying a few entries each (arroyo's max_batch_time, Kafka's
    # linger.ms). 0 reads again at once. Never delays an entry arriving after a quiet spell.
    batch_wait_ms: int = Field(default=10, ge=0, le=1000)
    # A pending entry idle this long is claimed from its (presumed dead) consumer.
    min_idle_ms: int = Field(default=60_000, ge=1)
    claim_interval_s: float = Field(default=5.0, gt=0)
    # Redis's delivery count at which a failing entry goes to the dead-letter stream.
    max_deliveries: int = Field(default=5, ge=1)
    # After SIGTERM: time to finish and ack the batch in hand before giving up.
    drain_grace_s: float = Field(default=20.0, gt=0)
    retry_backoff_max_s: float = Field(default=5.0, gt=0)
    dlq_maxlen: int = Field(default=100_000, ge=100)
    db_pool_max: int = Field(default=4, ge=1)
    # How often the stream gauges (lag, pending, oldest pending age, DLQ depth) are refreshed.
    stats_interval_s: float = Field(default=5.0, gt=0)
    # Dead-letter breaker: more than BREAKER_MAX_RATIO of the last BREAKER_WINDOW_ENTRIES entries
    # dead-lettered stops the group reading for BREAKER_COOLDOWN_S (or until `reflexctl breaker close`).
    breaker_window_entries: int = Field(default=1000, ge=1)
    breaker_max_ratio: float = Field(default=0.5, gt=0, le=1)
    breaker_cooldown_s: float = Field(default=300.0, gt=0)
    # Transient failures of one batch, while Redis and Postgres answer pings, before it is bisected to
    # find the entry whose own work keeps failing (e.g. past statement_timeout).
    max_transient_retries: int = Field(default=10, ge=1)
    # A handler call running longer is cancelled and its batch counted as failing; liveness is never
    # shorter than this. Keep it below MIN_IDLE_MS unless the work is known to be slower.
    batch_deadline_s: float = Field(default=45.0, gt=0)
    # Consumers of the group idle this long with nothing pending are removed (old pod names).
    consumer_idle_max_s: float = Field(default=86_400.0, ge=1)
