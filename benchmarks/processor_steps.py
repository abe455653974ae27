"""The processor's steps for the stage breakdown, mirroring EventHandler.handle and the consumer loop
on one batch: read, parse, span, normalize, encode rows, COPY, INSERT…SELECT, commit, forward, ack.

Kept apart so that whoever reworks the processor updates this list (and only this) to match: each
step calls the processor's own functions where they exist, and does what they do where they are one
piece (store_events is split into COPY and INSERT…SELECT; the consumer's forward + ack MULTI into
its XADDs and its XACK)."""

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
from reflex_common.schemas import DomainEvent, RawEvent
from reflex_common.streams import Entry, Outgoing
from reflex_common.streams.redis_stream import RedisStreams
from reflex_common.telemetry import consumer_span
from reflex_processor.normalizer import normalize
from reflex_processor.settings import ProcessorSettings
from reflex_processor.store import _COLUMNS, _STAGE, event_row

CONSUMER = "bench-breakdown"
# As store_events inserts the staged rows.
_INSERT = (
    f"INSERT INTO events ({_COLUMNS}) SELECT {_COLUMNS} FROM events_stage ORDER BY event_id "
    "ON CONFLICT DO NOTHING RETURNING event_id::text"
)


@dataclass
class Batch:
    entries: list[Entry] = field(default_factory=list)
    raws: list[RawEvent] = field(default_factory=list)
    traceparents: list[str | None] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list)
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
            Step("COPY", "wall", self.copy),
            Step("INSERT…SELECT", "wall", self.insert),
            Step("commit", "wall", self.commit),
            Step("forward (encode)", "cpu", self.forward_encode),
            Step("forward (XADD)", "wall", self.forward),
            Step("ack (XACK)", "wall", self.ack),
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
        for e in b.entries:
            attributes = {"messaging.message.id": e.id, "messaging.destination.name": "raw"}
            with consumer_span(self._tracer, "raw process", e.fields, attributes) as traceparent:
                b.traceparents.append(traceparent)

    def normalize(self, b: Batch) -> None:
        b.events = [normalize(raw) for raw in b.raws]

    def encode(self, b: Batch) -> None:
        b.rows = [event_row(e.id, ev) for e, ev in zip(b.entries, b.events, strict=True)]

    async def copy(self, b: Batch) -> None:
        await self._conn.execute(_STAGE)
        async with self._conn.cursor().copy(f"COPY events_stage ({_COLUMNS}) FROM STDIN") as copy:
            for row in b.rows:
                await copy.write_row(row)

    async def insert(self, b: Batch) -> None:
        cur = await self._conn.execute(_INSERT)
        inserted = await cur.fetchall()
        if len(inserted) != len(b.rows):
            raise RuntimeError(f"breakdown: {len(inserted)} of {len(b.rows)} rows inserted")

    async def commit(self, b: Batch) -> None:
        await self._conn.commit()

    def forward_encode(self, b: Batch) -> None:
        stream, maxlen = self._keys.events_stream, self._settings.stream_maxlen
        b.outgoing = [
            Outgoing(stream, ev.to_fields(tp), maxlen) for ev, tp in zip(b.events, b.traceparents, strict=True)
        ]

    async def forward(self, b: Batch) -> None:
        await self._port.publish(b.outgoing)

    async def ack(self, b: Batch) -> None:
        await self._port.commit(self._keys.raw_stream, PROCESSOR_GROUP, [e.id for e in b.entries], [])


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
            note="one consumer batch at a time; the processor does forward + ack in one MULTI",
        )
