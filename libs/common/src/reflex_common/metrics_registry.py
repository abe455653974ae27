"""The Prometheus registry each service serves on /metrics: the standard process, platform and GC
collectors, `reflex_build_info`, and no `_created` series (one per labelled counter and histogram
otherwise, which nobody reads and every scrape stores)."""

from __future__ import annotations

import platform
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version

from prometheus_client import (
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.registry import CollectorRegistry

# Buckets of the latencies from the ingress receiving an event to a later stage handling it: from a
# few milliseconds (idle pipeline) to ten minutes (a backlog being drained).
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def release() -> str:
    """The ReflexAgent release: the common library's version (every package is released with it)."""
    try:
        return version("reflex-common")
    except PackageNotFoundError:
        return "unknown"


def service_registry(service: str) -> CollectorRegistry:
    """A registry for one service process, made in its main() before any metric is created."""
    # prometheus_client's only switch for _created is process-wide; a service process has one registry.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    Info("reflex_build", "The running service and its release.", registry=registry).info(
        {"service": service, "version": release(), "python": platform.python_version()}
    )
    return registry


def observe_since_received(histogram: Histogram, received_ms: Mapping[str, list[int]]) -> None:
    """Observe, in `histogram` labelled by source, how long ago each event was received (its
    received_at in ms since the epoch): the latency of a stage that has just committed them."""
    now_ms = time.time() * 1000
    for source, times in received_ms.items():
        observe_many(histogram.labels(source), [max(0.0, now_ms - ms) / 1000 for ms in times])


def observe_many(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(a)` for each amount (of an unlabelled histogram or a labelled child), with
    one update per bucket touched rather than two locked updates per amount: prometheus_client has no
    bulk observe, and a batch of 500 events observed one by one costs its worker more than counting
    them. Falls back to observe() should the client's internals ever change shape."""
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if not (isinstance(bounds, list) and isinstance(buckets, list) and len(bounds) == len(buckets) and total):
        for amount in amounts:
            histogram.observe(amount)
        return
    # observe() counts an amount in the first bucket whose bound is >= it (the last bound is +Inf).
    for index, n in Counter(bisect_left(bounds, amount) for amount in amounts).items():
        buckets[index].inc(n)
    total.inc(sum(amounts))
