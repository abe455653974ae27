"""Free TCP ports on 127.0.0.1 for servers and services started by tests and launchers."""

from __future__ import annotations

import contextlib
import secrets
import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).

    Another process may take it before the caller binds it; that race is accepted here.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_block(count: int, *, low: int = 20000) -> int:
    """The first of `count` consecutive TCP ports on 127.0.0.1 that were all free a moment ago (for
    `HEALTH_PORT_BASE`). They lie below the kernel's ephemeral range, where no outgoing connection
    takes one meanwhile; another process may still bind one first, as with free_port().
    Raises RuntimeError if no block is found."""
    high = _ephemeral_low()
    for _ in range(200):
        base = secrets.randbelow(max(1, high - low - count)) + low
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free ports found between {low} and {high}")


def _ephemeral_low(default: int = 32768) -> int:
    """The first port of the kernel's range for outgoing connections (Linux), else `default`."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def port_free(port: int, host: str = "0.0.0.0") -> bool:
    """Whether a server could bind `port` on `host` now (with SO_REUSEADDR, as aiohttp binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
