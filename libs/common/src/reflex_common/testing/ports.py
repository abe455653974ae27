"""Free TCP ports on 127.0.0.1 for servers and services started by tests and launchers."""

from __future__ import annotations

import contextlib
import secrets
import socket


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
