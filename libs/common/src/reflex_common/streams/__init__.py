"""The stream consumer runtime: ports, a Redis adapter, an in-memory adapter and the consumer loop."""

from reflex_common.streams.consumer import Consumer, ConsumerConfig, Handler, Outcome
from reflex_common.streams.ports import ClaimResult, DeadLetter, Entry, Outgoing, StreamPort

__all__ = [
    "ClaimResult",
    "Consumer",
    "ConsumerConfig",
    "DeadLetter",
    "Entry",
    "Handler",
    "Outcome",
    "Outgoing",
    "StreamPort",
]
