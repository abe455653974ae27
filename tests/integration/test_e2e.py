"""1,000 signed webhooks through the whole pipeline: rows, exact counts, windows, one trace."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from opentelemetry.trace import SpanKind

from pipeline import running_pipeline

TYPES = ["push", "issues", "pull_request"]


async def test_thousand_webhooks_become_rows_exact_counts_windows_and_one_trace(
    redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path
) -> None:
    async with running_pipeline(redis_url, migrated_db, key_prefix, tmp_path) as p:
        gate = asyncio.Semaphore(50)
        ids: list[str] = []

        async def send(i: int) -> None:
            async with gate:
                response = await p.post("demo", {"n": i}, event=TYPES[i % 3], delivery=str(uuid.uuid4()))
                assert response.status == 202, await response.text()
                ids.append((await response.json())["id"])

        await asyncio.gather(*(send(i) for i in range(1000)))
        await p.drain()
        # Close every window the events fell in (as the wall clock would, two minutes on).
        closed = await p.closer.close(datetime.now(tz=UTC) + timedelta(minutes=3))
        await p.anomaly.run(burst=True)
        spans = p.spans.get_finished_spans()

    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        rows = await (await conn.execute("SELECT event_id::text, type, received_at FROM events")).fetchall()
        assert len(rows) == 1000
        assert sorted(r[0] for r in rows) == sorted(ids)
        # Exact counts: what metric_counts says equals a GROUP BY over the events themselves.
        expected = Counter((t, int(r.timestamp()) // 60 * 60) for _, t, r in rows)
        expected_all = Counter(int(r.timestamp()) // 60 * 60 for _, _, r in rows)
        counts = await (
            await conn.execute(
                "SELECT type, extract(epoch FROM window_start)::bigint, count FROM metric_counts WHERE count > 0"
            )
        ).fetchall()
        got = {(t, w): c for t, w, c in counts if t != "*"}
        got_all = {w: c for t, w, c in counts if t == "*"}
        assert got == dict(expected)
        assert got_all == dict(expected_all)
        assert sum(got.values()) == 1000
        # Every closed window reached the anomaly stage.
        assert sum(w.count for w in closed if w.type == "*") == 1000
        history = await (await conn.execute("SELECT type, history FROM anomaly_series")).fetchall()
        assert {t for t, _ in history} == {*TYPES, "*"}
        assert sum(h["observed_sum"] for t, h in history if t == "*") == 1000

    # One trace from the ingress HTTP span through to the processor's span for the same event.
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    processed = [s for s in spans if s.name == "raw process"]
    assert len(server) == 1000 and len(processed) == 1000
    server_traces = {s.context.trace_id for s in server}
    assert {s.context.trace_id for s in processed} == server_traces
    counted = [s for s in spans if s.name == "events process"]
    assert {s.context.trace_id for s in counted} == server_traces
    # Closed windows carry the closer's trace to the anomaly-detector.
    closes = {s.context.trace_id for s in spans if s.name == "windows close"}
    judged = [s for s in spans if s.name == "windows process"]
    assert judged and {s.context.trace_id for s in judged} <= closes
