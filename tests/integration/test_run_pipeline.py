"""`make run` (scripts/run_pipeline.py) as a supervisor: kill -9 of a worker while webhooks flow brings
it back and loses nothing; too many exits within the window stop everything with a clear message."""

from __future__ import annotations

import http.client
import os
import signal
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from pipeline import github_headers
from reflex_common.testing import free_port, free_port_block
from workers import Launcher, wait_until

pytestmark = pytest.mark.slow

SECRET = "run-pipeline-test-secret"
READY_S = 120
STARTED = r"run_pipeline: {name} started \(pid (\d+), health port (\d+)\)"


class Sender:
    """Signed webhooks to the launcher's ingress, one after another on one keep-alive connection, from
    a thread; every answer and every connection error recorded."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        while not self._stop.is_set():
            i += 1
            body = orjson.dumps({"n": i})
            headers = github_headers(body, "push", str(uuid.uuid4()), SECRET)
            try:
                conn.request("POST", "/api/v1/events/demo", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"request {i}: {exc!r}")
                conn.close()
                continue
            if response.status == 202:
                self.accepted.append(orjson.loads(answer)["id"])
            else:
                self.failures.append(f"request {i}: {response.status} {answer[:200]!r}")
        conn.close()


def scalar(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@pytest.fixture
def launcher_env(redis_url: str, database_url: str, key_prefix: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "KEY_PREFIX": key_prefix,
        "HTTP_PORT": str(free_port()),
        "HEALTH_PORT_BASE": str(free_port_block(4)),
        "DEMO_WEBHOOK_SECRET": SECRET,
        "LOG_LEVEL": "warning",
    }


@pytest.fixture
def launcher(launcher_env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Launcher]:
    env = {**launcher_env, **getattr(request, "param", {})}
    run = Launcher(env, tmp_path / "launcher.log")
    try:
        yield run
    finally:
        run.stop()


def kill9(launcher: Launcher, name: str) -> int:
    """SIGKILL the service's current process; wait until the launcher reported it and started a new one.
    Returns the new process id."""
    mark = launcher.mark()
    current = launcher.last(STARTED.format(name=name))
    assert current is not None, launcher.tail()
    pid = int(current.group(1))
    os.kill(pid, signal.SIGKILL)
    launcher.wait_for(rf"run_pipeline: {name} exited with code -9 \(SIGKILL\)", 30, after=mark)
    launcher.wait_for(
        rf"run_pipeline: restarting {name} in 1 s \(exit 1 within 60 s; exit \d+ gives up\)", 30, after=mark
    )
    _, started = launcher.wait_for(STARTED.format(name=name), 60, after=mark)
    assert int(started.group(1)) != pid
    return int(started.group(1))


@pytest.mark.timeout(300)
def test_kill9_of_each_worker_under_make_run_restarts_it_and_loses_nothing(
    launcher: Launcher, launcher_env: dict[str, str], database_url: str
) -> None:
    launcher.wait_for(r"Ctrl-C stops everything", READY_S)
    events = lambda: scalar(database_url, "SELECT count(*) FROM events")  # noqa: E731
    counted = lambda: scalar(database_url, "SELECT sum(count) FROM metric_counts WHERE type = '*'")  # noqa: E731
    with Sender(int(launcher_env["HTTP_PORT"])) as sender:
        for name in ("processor", "metrics", "anomaly"):
            before = len(sender.accepted)
            wait_until(lambda b=before: len(sender.accepted) >= b + 50, 60, f"50 webhooks accepted before {name}")
            kill9(launcher, name)
        # After the last restart: webhooks still flow through the whole pipeline.
        stored = events()
        wait_until(lambda: events() >= stored + 50, 60, "50 more events stored after the restarts")
    accepted = sender.accepted
    assert sender.failures == [], "the ingress stopped answering"
    wait_until(
        lambda: events() == len(accepted) and counted() == len(accepted),
        120,
        "every accepted webhook stored and counted",
    )
    with psycopg.connect(database_url) as conn:
        ids = [row[0] for row in conn.execute("SELECT event_id::text FROM events").fetchall()]
    assert sorted(ids) == sorted(accepted)  # 0 lost, 0 duplicated
    assert counted() == len(accepted)  # each counted exactly once
    assert launcher.stop() == 0


@pytest.mark.timeout(180)
@pytest.mark.parametrize("launcher", [{"MAX_CRASHES": "2"}], indirect=True)
def test_a_worker_that_keeps_exiting_stops_make_run_with_a_clear_message(launcher: Launcher) -> None:
    launcher.wait_for(r"Ctrl-C stops everything", READY_S)
    pid = kill9(launcher, "processor")
    mark = launcher.mark()
    os.kill(pid, signal.SIGKILL)
    launcher.wait_for(
        r"run_pipeline: processor exited 2 times within 60 s: giving up on it",
        30,
        after=mark,
    )
    launcher.wait_for(
        r"run_pipeline: stopping the pipeline \(MAX_CRASHES=2 exits within CRASH_WINDOW_S=60 s\)", 10, after=mark
    )
    assert launcher.child.wait(60) == 1
    launcher.wait_for(r"stopping the servers we started", 10, after=mark)
