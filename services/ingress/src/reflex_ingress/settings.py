"""Ingress settings, read from the environment once by main()."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from reflex_common.settings import CommonSettings


class IngressSettings(CommonSettings):
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    # Worker processes sharing the webhook port (SO_REUSEPORT) under one supervising process, which
    # serves the health port with every worker's metrics summed. 1: one process, no supervisor (the
    # default, and what Kubernetes runs: scale by pods there).
    ingress_workers: int = Field(default=1, ge=1, le=64)
    # The YAML file naming the webhook sources (see the README).
    sources_file: Path = Path("sources.yaml")
    # Consumer groups that read the raw stream; the ingress creates them so that its backlog is
    # measured (and protected from trimming) even before the first event-processor starts.
    raw_groups: tuple[str, ...] = ("event-processor",)
    # Answer 429 / 503 with this Retry-After.
    retry_after_s: int = Field(default=5, ge=1)
    # XADDs waiting for Redis at once; past this the ingress answers 429 instead of queueing more.
    max_pending_writes: int = Field(default=10_000, ge=1)
    # Writes of concurrent requests share one pipeline of at most this many XADDs.
    write_batch_max: int = Field(default=512, ge=1)
    # verify() calls that may block (an SNS certificate fetch, a large form) run in worker threads,
    # at most this many at once per source; more wait for a slot.
    offload_per_source: int = Field(default=4, ge=1)
    # A connection must deliver a request's headers this long after it opened (or after the previous
    # answer on it), and its body this long after the headers; else it is closed.
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=10.0, gt=0)
    # Bytes of bodies held at once across all in-flight requests; a body that would go past it is
    # answered 503 + Retry-After before a byte of it is read.
    max_buffered_bytes: int = Field(default=32 * 1024 * 1024, ge=64 * 1024)
    # Kernel receive buffer of each webhook connection (0: the kernel's autotuning). It bounds what a
    # read brings into the process before a connection can be paused (16 KiB: ~30 KiB per stalled
    # sender); raise it only for large bodies from far-away senders with no proxy in front.
    receive_buffer_bytes: int = Field(default=16 * 1024, ge=0)
    # Open connections per client address; past it a new connection is closed at once. 0: no limit
    # (behind a proxy every connection comes from the proxy's address).
    max_connections_per_client: int = Field(default=0, ge=0)
    redis_timeout_s: float = Field(default=2.0, gt=0)
    # When a 202 is answered: `fast` once Redis holds the entry (its own fsync policy decides what a
    # power loss takes), `aof` once it is fsynced to the AOF (WAITAOF 1 0; Redis >= 7.2 or Valkey,
    # appendonly yes, appendfsync always), `replica` once a replica has it (WAIT 1). Not confirmed in
    # time → 503.
    durability: Literal["fast", "aof", "replica"] = "fast"
    durability_timeout_ms: int = Field(default=1000, ge=1)
    # Twilio-style schemes sign the public URL: set it when a proxy rewrites scheme or host...
    public_base_url: str | None = None
    # ...or trust X-Forwarded-Proto / X-Forwarded-Host from the proxy in front of the ingress.
    trust_forwarded_headers: bool = False
