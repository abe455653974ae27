"""Worker services as real processes (python -m ...), and the `make run` launcher, for tests that kill them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from reflex_common.testing.servers import free_port


class WorkerProcess:
    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module = module
        self.log = log
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env, "HEALTH_PORT": str(free_port())},
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log_file.close()

    def terminate(self, timeout_s: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        self._log_file.close()
        return code

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str, *procs: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for p in procs:
            if p.proc.poll() is not None:
                raise AssertionError(
                    f"{p.module} exited with {p.proc.returncode} while waiting for {what}:\n{p.tail()}"
                )
        if time.monotonic() > deadline:
            logs = "\n---\n".join(p.tail() for p in procs)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.05)


REPO_ROOT = Path(__file__).resolve().parents[2]


class Launcher:
    """scripts/run_pipeline.py run as `make run` runs it, its output collected line by line."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "scripts" / "run_pipeline.py")],
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout, self.log.open("w") as log:
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                log.write(line + "\n")
                log.flush()
                with self._lock:
                    self.lines.append(line)

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
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)
                with self._lock:
                    if any(regex.search(line) for line in self.lines[after:]):
                        continue
                raise AssertionError(f"the launcher exited ({self.proc.returncode}) before {pattern!r}:\n{self.tail()}")
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
        """Ctrl-C, as in a terminal; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout_s)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=5)

    def tail(self, lines: int = 60) -> str:
        with self._lock:
            return "\n".join(self.lines[-lines:])
