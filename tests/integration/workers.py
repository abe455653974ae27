"""Worker services as real processes (python -m ...), and the `make run` launcher, for tests that kill them."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reflex_common.testing import free_port
from reflex_common.testing.children import Child


def start_worker(module: str, env: dict[str, str], log: Path) -> Child:
    """`python -m module` with the test's environment on a free health port, its output in `log`."""
    health_port = env.get("HEALTH_PORT") or str(free_port())
    return Child(module, [sys.executable, "-m", module], env={**os.environ, **env, "HEALTH_PORT": health_port}, log=log)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, *procs: Child) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for p in procs:
            if not p.alive:
                raise AssertionError(
                    f"{p.name} exited with {p.exit_description()} while waiting for {what}:\n{p.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n---\n".join(p.tail() for p in procs)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


REPO_ROOT = Path(__file__).resolve().parents[2]


class Launcher:
    """scripts/run_pipeline.py run as `make run` runs it, its output collected line by line."""

    def __init__(self, env: dict[str, str], log: Path, *, unset: tuple[str, ...] = ()) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._log = log.open("w")
        self.child = Child(
            "launcher",
            [sys.executable, str(REPO_ROOT / "scripts" / "run_pipeline.py")],
            env={k: v for k, v in {**os.environ, **env, "PYTHONUNBUFFERED": "1"}.items() if k not in unset},
            cwd=REPO_ROOT,
            on_line=self._add,
        )

    def _add(self, line: str) -> None:
        with self._lock:
            self.lines.append(line)
            self._log.write(line + "\n")
            self._log.flush()

    def wait_for(self, pattern: str, timeout_s: float, *, after: int = 0) -> tuple[int, re.Match[str]]:
        """The index and match of the first line from `after` on that matches `pattern`."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                lines = self.lines[after:]
            for i, line in enumerate(lines):
                if (match := regex.search(line)) is not None:
                    return after + i, match
            if not self.child.alive:
                self.child.finish_output()
                with self._lock:
                    if any(regex.search(line) for line in self.lines[after:]):
                        continue
                raise AssertionError(
                    f"the launcher exited with {self.child.exit_description()} before {pattern!r}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {pattern!r} from the launcher:\n{self.tail()}")
            time.sleep(0.05)

    def mark(self) -> int:
        """The index the next line will have (for `wait_for(after=...)`)."""
        with self._lock:
            return len(self.lines)

    def last(self, pattern: str) -> re.Match[str] | None:
        """The match in the latest line so far that matches `pattern`."""
        regex = re.compile(pattern)
        with self._lock:
            lines = list(self.lines)
        return next((m for line in reversed(lines) if (m := regex.search(line)) is not None), None)

    def stop(self, timeout_s: float = 60) -> int:
        """Ctrl-C, as in a terminal; the exit code (SIGKILL to all that is left after `timeout_s`)."""
        self.child.send(signal.SIGINT)
        try:
            return self.child.wait(timeout_s)
        finally:
            self.child.kill()
            self._log.close()

    def tail(self, lines: int = 60) -> str:
        with self._lock:
            return "\n".join(self.lines[-lines:])
