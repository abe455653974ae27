"""The processor's steps for the stage breakdown, mirroring EventHandler.handle and the consumer loop
on one batch: read, parse, span, normalize, encode rows, binary COPY, INSERT…SELECT, commit, encode
the forwarded entries, forward + ack.

Kept apart so that whoever reworks the processor updates this list (and only this) to match: each
step calls the processor's own functions (store_events is its stage_rows and insert_staged; the
consumer's forward + ack is one script, RedisStreams.commit)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from opentelemetry.trace import Tracer

from benchmarks.bodies import raw_events
from benchmarks.breakdown import Breakdown, Step, measure
from reflex_common.keys import PROCESSOR_GROUP
from reflex_common.schemas import RawEvent
from reflex_common.schemas.domain_event import event_fields
from reflex_common.streams import Entry, Outgoing
from reflex_common.streams.redis_stream import RedisStreams
from reflex_common.telemetry import BatchSpans
from reflex_processor.event import StoredEvent
from reflex_processor.normalizer import normalize
from reflex_processor.settings import ProcessorSettings
from reflex_processor.store import event_row, insert_staged, stage_rows

CONSUMER = "bench-breakdown"


@dataclass
class Batch:
    entries: list[Entry] = field(default_factory=list)
    raws: list[RawEvent] = field(default_factory=list)
    traceparents: list[str] = field(default_factory=list)
    spans: BatchSpans | None = None
    events: list[StoredEvent] = field(default_factory=list)
    rows: list[tuple[object, ...]] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)


class ProcessorSteps:
    def __init__(
        self,
        settings: ProcessorSettings,
        port: RedisStreams,
        conn: psycopg.AsyncConnection[Any],
        tracer: Tracer,
        sampled: bool,
    ) -> None:
        self._settings = settings
        self._keys = settings.keys
        self._port = port
        self._conn = conn
        self._tracer = tracer
        self._sampled = sampled
        self._size = settings.batch_size
        self._secret = secrets.token_hex(8)
        self._runs = 0

    def steps(self) -> Sequence[Step[Batch]]:
        return [
            Step("read (XREADGROUP)", "wall", self.read),
            Step("parse entry", "cpu", self.parse),
            Step("span", "cpu", self.span),
            Step("normalize", "cpu", self.normalize),
            Step("encode row", "cpu", self.encode),
            Step("COPY (binary)", "wall", self.copy),
            Step("INSERT…SELECT", "wall", self.insert),
            Step("commit", "wall", self.commit),
            Step("forward (encode)", "cpu", self.forward_encode),
            Step("forward + ack (script)", "wall", self.forward_and_ack),
        ]

    async def fresh(self) -> Batch:
        """One batch of new raw entries in the raw stream (new event ids and delivery keys each run)."""
        self._runs += 1
        delivery = f"breakdown-{self._secret}-{self._runs}"
        events = raw_events(self._size, self._secret, self._sampled, delivery_prefix=delivery)
        await self._port.ensure_group(self._keys.raw_stream, PROCESSOR_GROUP)
        await self._port.publish(
            [Outgoing(self._keys.raw_stream, e.to_fields(), self._settings.stream_maxlen) for e in events]
        )
        return Batch()

    async def read(self, b: Batch) -> None:
        b.entries = await self._port.read_new(self._keys.raw_stream, PROCESSOR_GROUP, CONSUMER, self._size, 1)

    def parse(self, b: Batch) -> None:
        b.raws = [RawEvent.from_fields(e.fields) for e in b.entries]

    def span(self, b: Batch) -> None:
        b.spans = BatchSpans(self._tracer, "raw process")
        for e in b.entries:
            attributes = {"messaging.message.id": e.id, "messaging.destination.name": "raw"}
            traceparent, _ = b.spans.start(e.fields.get("traceparent"), attributes)
            b.traceparents.append(traceparent)

    def normalize(self, b: Batch) -> None:
        b.events = [normalize(raw) for raw in b.raws]

    def encode(self, b: Batch) -> None:
        b.rows = [event_row(e.id, ev) for e, ev in zip(b.entries, b.events, strict=True)]

    async def copy(self, b: Batch) -> None:
        await stage_rows(self._conn, b.rows)

    async def insert(self, b: Batch) -> None:
        inserted = await insert_staged(self._conn)
        if len(inserted) != len(b.rows):
            raise RuntimeError(f"breakdown: {len(inserted)} of {len(b.rows)} rows inserted")

    async def commit(self, b: Batch) -> None:
        await self._conn.commit()
        if b.spans is not None:
            b.spans.end()  # as the handler ends them, once the batch is stored

    def forward_encode(self, b: Batch) -> None:
        stream, maxlen = self._keys.events_stream, self._settings.stream_maxlen
        b.outgoing = [
            Outgoing(stream, event_fields(ev, tp), maxlen) for ev, tp in zip(b.events, b.traceparents, strict=True)
        ]

    async def forward_and_ack(self, b: Batch) -> None:
        await self._port.commit(self._keys.raw_stream, PROCESSOR_GROUP, [e.id for e in b.entries], b.outgoing)


async def processor_breakdown(
    settings: ProcessorSettings, port: RedisStreams, db_url: str, tracer: Tracer, sampled: bool, runs: int
) -> Breakdown:
    """The breakdown on the database at db_url (migrated; its `events` table takes the rows)."""
    async with await psycopg.AsyncConnection.connect(db_url) as conn:
        steps = ProcessorSteps(settings, port, conn, tracer, sampled)
        return await measure(
            "processor",
            steps.steps(),
            steps.fresh,
            settings.batch_size,
            runs,
            note="one consumer batch at a time; the processor runs two batches at once",
        )
