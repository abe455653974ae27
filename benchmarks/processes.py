"""The child processes of a bench run: every one stopped on exit, whatever happens."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from reflex_common.testing.children import Child, stop_all

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_S = 15.0


class Children:
    """Every process this script starts (each a Child: its own session); stopped on exit whatever happens."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def start(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        capture: bool = False,
    ) -> Child:
        child = Child(name, command, env=env, cwd=REPO_ROOT, log=log_path, pipe=capture)
        self._children.append(child)
        return child

    def stop(self, child: Child, grace_s: float = STOP_GRACE_S) -> None:
        self.stop_many([child], grace_s)

    def stop_many(self, children: list[Child], grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM them all at once, then SIGKILL the process group of any still running after grace_s."""
        stop_all(children, grace_s)
        self._children = [c for c in self._children if c not in children]

    def stop_all(self) -> None:
        """Load generators first (so no server drains under fire), then everything else together."""
        self.stop_many([c for c in self._children if c.name.startswith("load-")], grace_s=2.0)
        self.stop_many(list(self._children))


CHILDREN = Children()


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (Linux: /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a running process and of its running children, recursively (the ingress's
    supervisor and its INGRESS_WORKERS workers; /proc/PID/task/TID/children)."""
    total = cpu_s(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                with contextlib.suppress(OSError):  # a child that has just exited
                    total += tree_cpu_s(int(child))
    return total
