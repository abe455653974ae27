"""kill -9 of the event-processor and of the metric-worker mid-stream, then restart:
nothing lost, no duplicate row, counts still exact."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import redis

from reflex_common.ids import new_event_id
from reflex_common.keys import METRICS_GROUP, PROCESSOR_GROUP, Keys
from reflex_common.schemas import RawEvent
from workers import start_worker, wait_until

N = 5000
TYPES = ["push", "issues", "pull_request", "release"]


def produce(redis_url: str, prefix: str, n: int) -> None:
    r = redis.Redis.from_url(redis_url)
    pipe = r.pipeline(transaction=False)
    now_ms = int(time.time() * 1000)
    for i in range(n):
        raw = RawEvent(
            event_id=new_event_id(now_ms),
            source="gh",
            kind="github",
            received_at_ms=now_ms - (i % 120) * 1000,
            body=b'{"n": %d}' % i,
            headers={"x-github-event": TYPES[i % len(TYPES)]},
            delivery_key=f"d-{i}",
        )
        pipe.xadd(Keys(prefix).raw_stream, raw.to_fields())
    pipe.execute()
    r.close()


def scalar(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_kill9_of_processor_and_metric_worker_loses_nothing_and_counts_once(
    redis_url: str, migrated_db: str, key_prefix: str, tmp_path: Path
) -> None:
    produce(redis_url, key_prefix, N)
    env = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": migrated_db,
        "KEY_PREFIX": key_prefix,
        "BATCH_SIZE": "25",
        "BLOCK_MS": "100",
        "MIN_IDLE_MS": "1000",
        "CLAIM_INTERVAL_S": "0.2",
        "LOG_LEVEL": "warning",
        "CLOSE_INTERVAL_S": "3600",
    }
    processor = start_worker("reflex_processor", {**env, "CONSUMER_NAME": "p1"}, tmp_path / "p1.log")
    metrics = start_worker("reflex_metrics", {**env, "CONSUMER_NAME": "m1"}, tmp_path / "m1.log")
    events = lambda: scalar(migrated_db, "SELECT count(*) FROM events")  # noqa: E731
    counted = lambda: scalar(migrated_db, "SELECT count(*) FROM metric_counted")  # noqa: E731

    wait_until(lambda: events() >= 500, 60, "the processor to store 500 events", processor, metrics)
    processor.kill()
    wait_until(lambda: counted() >= 300, 60, "the metric-worker to count 300 events", metrics)
    metrics.kill()
    assert events() < N, "the processor finished before it could be killed mid-stream"

    # The processor comes back as a new pod (its old pending entries are reclaimed with XAUTOCLAIM);
    # the metric-worker under its old name (it drains its own pending entries first).
    processor = start_worker("reflex_processor", {**env, "CONSUMER_NAME": "p2"}, tmp_path / "p2.log")
    metrics = start_worker("reflex_metrics", {**env, "CONSUMER_NAME": "m1"}, tmp_path / "m1b.log")
    wait_until(lambda: events() == N and counted() == N, 120, "every event stored and counted", processor, metrics)
    assert processor.stop(30) == 0
    assert metrics.stop(30) == 0

    assert events() == N
    assert scalar(migrated_db, "SELECT count(DISTINCT delivery_key) FROM events") == N
    assert scalar(migrated_db, "SELECT sum(count) FROM metric_counts WHERE type = '*'") == N
    with psycopg.connect(migrated_db) as conn:
        by_type = dict(
            conn.execute("SELECT type, sum(count) FROM metric_counts WHERE type <> '*' GROUP BY 1").fetchall()
        )
        by_window = conn.execute(
            "SELECT c.window_start, c.count, (SELECT count(*) FROM events e WHERE e.received_at >= c.window_start"
            " AND e.received_at < c.window_start + interval '60 seconds') FROM metric_counts c WHERE type = '*'"
        ).fetchall()
    assert by_type == {t: n for t, n in Counter(TYPES[i % len(TYPES)] for i in range(N)).items()}
    assert all(count == actual for _, count, actual in by_window)
    r = redis.Redis.from_url(redis_url)
    keys = Keys(key_prefix)
    assert int(r.xpending(keys.raw_stream, PROCESSOR_GROUP)["pending"]) == 0
    assert int(r.xpending(keys.events_stream, METRICS_GROUP)["pending"]) == 0
    assert r.xlen(keys.dlq_stream(keys.raw_stream)) == 0
    r.close()
