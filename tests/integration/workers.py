"""Worker services as real processes (python -m ...), for tests that kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reflex_common.testing.servers import free_port


class WorkerProcess:
    def __init__(self, module: str, env: dict[str, str], log: Path) -> None:
        self.module = module
        self.log = log
        self.health_port = int(env.get("HEALTH_PORT") or free_port())
        self._log_file = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            env={**os.environ, **env, "HEALTH_PORT": str(self.health_port)},
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
