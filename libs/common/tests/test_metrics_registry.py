from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from reflex_common.metrics_registry import LATENCY_BUCKETS_S, observe_many


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")  # when each was made, not what it holds
    }


def test_observe_many_leaves_the_histogram_as_observing_one_by_one_does() -> None:
    # Bounds themselves, between them, zero, past the last finite bound, and repeats.
    amounts = [0.0, 0.005, 0.0051, 0.3, 0.3, 1.0, 2.49, 599.9, 600.0, 601.0, 10_000.0, 0.07]
    one_by_one, many = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("lat_seconds", "latency", ["source"], registry=one_by_one, buckets=LATENCY_BUCKETS_S)
    h2 = Histogram("lat_seconds", "latency", ["source"], registry=many, buckets=LATENCY_BUCKETS_S)
    for amount in amounts:
        h1.labels("a").observe(amount)
    observe_many(h2.labels("a"), amounts)
    observe_many(h2.labels("a"), [])
    got = samples(many)
    assert got == samples(one_by_one)
    assert got[("lat_seconds_count", (("source", "a"),))] == len(amounts)
