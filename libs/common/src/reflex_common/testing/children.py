"""Service processes started by tests, `make run` (scripts/run_pipeline.py) and `make bench`: one way to
start, watch, stop and restart them.

* `Child`: a command in its own session (a Ctrl-C in the terminal reaches only whoever started it,
  who decides the order of shutdown), its output appended to a log file, handed line by line to a
  callback (a thread pumps it and keeps the last lines), left on a pipe for the caller, or dropped.
* `stop_all()`: SIGTERM to many children at once, SIGKILL to the process group of any still running
  after the grace period, all reaped.
* `wait_ready()`: until every URL answers 200; a child that exits meanwhile fails it with its last lines.
* `Supervised` with a `RestartPolicy`: one service kept running as Kubernetes keeps a pod, restarted
  with exponential backoff whenever it exits, given up on after too many exits within a window.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

TAIL_LINES = 30
POLL_INTERVAL_S = 0.05


class Child:
    """One process we started; see the module docstring for where its output goes (`log`, `on_line`,
    `pipe`: at most one of them). Whoever starts it must stop it (`stop()`, `kill()` or `stop_all()`)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        pipe: bool = False,
    ) -> None:
        if (log is not None) + (on_line is not None) + pipe > 1:
            raise ValueError("give at most one of log, on_line and pipe")
        self.name = name
        self.log = log
        self._lines: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._reader: threading.Thread | None = None
        kwargs: dict[str, Any] = {
            "env": dict(env) if env is not None else None,
            "cwd": cwd,
            "stdin": subprocess.DEVNULL,
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
        }
        if log is not None:
            with log.open("ab") as out:  # the child holds its own descriptor
                self.proc = subprocess.Popen(command, stdout=out, **kwargs)
        else:
            stdout = subprocess.PIPE if on_line is not None or pipe else subprocess.DEVNULL
            self.proc = subprocess.Popen(command, stdout=stdout, **kwargs)
        if on_line is not None:
            assert self.proc.stdout is not None
            self._reader = threading.Thread(target=self._pump, args=(self.proc.stdout, on_line), daemon=True)
            self._reader.start()

    def _pump(self, stream: IO[bytes], on_line: Callable[[str], None]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").rstrip("\r\n")
                self._lines.append(line)
                on_line(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stdout(self) -> IO[bytes]:
        """The output pipe (`pipe=True` only)."""
        assert self.proc.stdout is not None, f"{self.name} was not started with pipe=True"
        return self.proc.stdout

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout_s: float | None = None) -> int:
        """The exit code; raises subprocess.TimeoutExpired if it still runs after `timeout_s`."""
        return self.proc.wait(timeout_s)

    def send(self, signum: int) -> None:
        """Send `signum` to the process (not its group) if it still runs."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)

    def terminate(self) -> None:
        self.send(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL the child's whole process group (a crash, as `kill -9` or an OOM kill would be), reap
        it, and wait (briefly) until its output is read."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.finish_output()

    def stop(self, grace_s: float) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; the exit code."""
        stop_all([self], grace_s)
        code = self.proc.returncode
        assert code is not None
        return code

    def finish_output(self, timeout_s: float = 2.0) -> None:
        """Wait (at most `timeout_s`) until everything the child wrote has been handed to `on_line`."""
        if self._reader is not None:
            self._reader.join(timeout=timeout_s)

    def tail(self, lines: int = TAIL_LINES) -> str:
        """Its last lines of output (from the log file, or those kept from `on_line`)."""
        if self.log is not None:
            try:
                return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
            except OSError:
                return ""
        return "\n".join(list(self._lines)[-lines:])

    def exit_description(self) -> str:
        """`code 1`, or `code -9 (SIGKILL)` for a child killed by a signal; `running` while it runs."""
        code = self.returncode
        if code is None:
            return "running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"code {code} ({signal.Signals(-code).name})"
        return f"code {code}"

    def __repr__(self) -> str:
        return f"<Child {self.name} pid={self.pid} {self.exit_description()}>"


def stop_all(children: Iterable[Child], grace_s: float, *, on_kill: Callable[[Child], None] | None = None) -> None:
    """SIGTERM every child at once; SIGKILL the process group of those still running after `grace_s`
    (`on_kill` is told of each first); reap them all and finish reading their output."""
    children = list(children)
    for child in children:
        child.terminate()
    deadline = time.monotonic() + grace_s
    for child in children:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if on_kill is not None:
                on_kill(child)
            child.kill()
    for child in children:
        child.finish_output()


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """Whether GET `url` answers 200 (proxies ignored: our services listen on the loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError as error:
        error.close()
        return False
    except (OSError, ValueError):
        return False


class NotReady(RuntimeError):
    """A child exited before every URL answered 200 (`child`), or time ran out (`child` is None); the
    message says which and why."""

    def __init__(self, message: str, child: Child | None = None) -> None:
        super().__init__(message)
        self.child = child


def wait_ready(
    urls: Iterable[str],
    children: Iterable[Child],
    timeout_s: float,
    *,
    stopped: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll until every URL answers 200 (True) or `stopped()` returns true (False). Raises NotReady
    with the exit code and last lines of a child that exits meanwhile, or with the URLs still not
    answering after `timeout_s`."""
    children = list(children)
    pending = list(urls)
    deadline = time.monotonic() + timeout_s
    while not stopped():
        for child in children:
            if not child.alive:
                child.finish_output()
                message = f"{child.name} exited with {child.exit_description()}; last lines:\n{child.tail()}"
                raise NotReady(message, child)
        pending = [url for url in pending if not http_ok(url)]
        if not pending:
            return True
        if time.monotonic() >= deadline:
            raise NotReady(f"{', '.join(pending)} did not answer 200 within {timeout_s:.0f} s")
        time.sleep(POLL_INTERVAL_S)
    return False


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Restart after backoff_initial_s, doubled for each further exit within window_s, at most
    backoff_max_s; the max_crashes-th exit within window_s gives up."""

    max_crashes: int = 5
    window_s: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0

    def backoff_s(self, recent_exits: int) -> float:
        """The wait before the next start after `recent_exits` (>= 1) exits within the window."""
        return float(min(self.backoff_max_s, self.backoff_initial_s * 2 ** (recent_exits - 1)))


class Supervised:
    """One service kept running: `check()`, called often, notices an exit (says so with the exit code,
    and the last lines unless `show_tail` is false), starts the service again once the backoff has
    passed, or gives up (`gave_up`)."""

    def __init__(
        self,
        name: str,
        start: Callable[[], Child],
        policy: RestartPolicy,
        say: Callable[[str], None],
        *,
        show_tail: bool = True,
    ) -> None:
        self.name = name
        self._show_tail = show_tail
        self._start = start
        self._policy = policy
        self._say = say
        self._exits: collections.deque[float] = collections.deque()
        self._restart_at: float | None = None
        self.gave_up = False
        self.child = start()

    def check(self, now: float) -> None:
        if self.gave_up or self.child.alive:
            return
        if self._restart_at is None:
            self._on_exit(now)
        elif now >= self._restart_at:
            self._restart_at = None
            self.child = self._start()

    def _on_exit(self, now: float) -> None:
        self.child.finish_output()
        if self._show_tail:
            self._say(f"{self.name} exited with {self.child.exit_description()}; last lines:")
            for line in self.child.tail().splitlines():
                self._say(f"    {line}")
        else:  # the caller shows the child's output as it comes
            self._say(f"{self.name} exited with {self.child.exit_description()}")
        self._exits.append(now)
        while self._exits and self._exits[0] <= now - self._policy.window_s:
            self._exits.popleft()
        recent, policy = len(self._exits), self._policy
        if recent >= policy.max_crashes:
            self.gave_up = True
            self._say(f"{self.name} exited {recent} times within {policy.window_s:.0f} s: giving up on it")
            return
        delay = policy.backoff_s(recent)
        self._restart_at = now + delay
        self._say(
            f"restarting {self.name} in {delay:.0f} s (exit {recent} within {policy.window_s:.0f} s; "
            f"exit {policy.max_crashes} gives up)"
        )
