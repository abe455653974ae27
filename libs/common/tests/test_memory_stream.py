"""The in-memory StreamPort behaves like Redis where the consumer loop relies on it, so handler unit
tests can use it: same loop, same outcomes as test_consumer.py's real-Redis runs."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry

from reflex_common.streams import Consumer, ConsumerConfig, Entry, Outcome, Outgoing
from reflex_common.streams.consumer_metrics import ConsumerMetrics
from reflex_common.streams.memory_stream import MemoryStreams

CFG = ConsumerConfig(
    stream="in",
    group="g",
    consumer="c1",
    dlq_stream="in:dlq",
    trimmed_counter_key="in:trimmed",
    batch_size=4,
    max_in_flight=8,
    block_ms=1,
    min_idle_ms=20,
    claim_interval_s=0.01,
    max_deliveries=2,
    retry_backoff_max_s=0.01,
)


class Forward:
    def __init__(self, poison: bytes = b"") -> None:
        self.poison = poison

    async def handle(self, entries: Sequence[Entry]) -> Outcome:
        if any(e.fields["n"] == self.poison for e in entries):
            raise RuntimeError("poison")
        return Outcome(done=[e.id for e in entries], forward=[Outgoing("out", dict(e.fields), 100) for e in entries])


def run(port: MemoryStreams, handler: Forward) -> Consumer:
    return Consumer(port, handler, CFG, ConsumerMetrics(CollectorRegistry()))


async def test_forward_then_ack_poison_to_dlq_and_trimmed_pending_recorded() -> None:
    port = MemoryStreams()
    await port.ensure_group("in", "g")
    ids = [port.add("in", {"n": str(i).encode()}) for i in range(10)]
    await run(port, Forward(poison=b"3")).run(burst=True)
    assert [f["n"] for f in port.streams["out"].entries.values()] == [str(i).encode() for i in range(10) if i != 3]
    (letter,) = port.streams["in:dlq"].entries.values()
    assert letter["dlq:original_id"] == ids[3].encode() and letter["dlq:deliveries"] == b"2"
    assert port.streams["in"].groups["g"].pending == {}

    # An entry read by a consumer that died, then trimmed away before anyone claimed it.
    gone = port.add("in", {"n": b"x"})
    await port.read_new("in", "g", "dead", 10, 1)
    port.trim("in", 0)
    await run(port, Forward()).run(burst=True)
    assert port.counters["in:trimmed"] == 1
    assert [f["dlq:original_id"] for f in port.streams["in:dlq"].entries.values()][-1] == gone.encode()


def test_classify_sorts_entries_by_one_rule() -> None:
    from reflex_common.streams.consumer import classify

    gone, poison, fresh, last = (
        Entry("1-0", {}, 2),
        Entry("2-0", {"n": b"1"}, 6),
        Entry("3-0", {"n": b"2"}, 1),
        Entry("4-0", {"n": b"3"}, 5),
    )
    assert classify([gone, poison, fresh, last], max_deliveries=5) == ([gone], [poison], [fresh, last])


async def test_a_group_destroyed_mid_batch_is_recreated_counted_and_replayed() -> None:
    port = MemoryStreams()
    await port.ensure_group("in", "g")
    for i in range(6):
        port.add("in", {"n": str(i).encode()})
    seen: list[bytes] = []

    class DestroysOnce:
        async def handle(self, entries: Sequence[Entry]) -> Outcome:
            if not seen:
                port.destroy_group("in", "g")  # XGROUP DESTROY while the batch is in hand
            seen.extend(e.fields["n"] for e in entries)
            return Outcome(done=[e.id for e in entries])

    registry = CollectorRegistry()
    await Consumer(port, DestroysOnce(), CFG, ConsumerMetrics(registry)).run(burst=True)
    assert sorted(set(seen)) == [str(i).encode() for i in range(6)]  # nothing lost (the first batch replayed)
    assert registry.get_sample_value("reflex_consumer_group_recreated_total", {"stream": "in", "group": "g"}) == 1
    assert port.streams["in"].groups["g"].pending == {}
