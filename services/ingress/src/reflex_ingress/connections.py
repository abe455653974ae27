"""How the webhook port takes connections: a header deadline, a short linger after a refusal, and at
most `max_connections_per_client` open connections per client address."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from reflex_ingress.settings import IngressSettings

# After answering a request whose body was not read (413, 503), read and drop what the sender still
# sends for at most this long, so that it sees the answer rather than a reset; then close.
LINGER_S = 2.0

log = structlog.get_logger("ingress")


# aiohttp pauses reading a connection whose unread body passes twice this: with the socket's small
# receive buffer (settings.receive_buffer_bytes), what a stalled sender holds of our memory before
# its body is wanted is a few tens of KiB.
READ_BUFFER_BYTES = 16 * 1024


def listening_socket(settings: IngressSettings, backlog: int = 1024) -> socket.socket:
    """The webhook port's socket; its receive buffer is inherited by every accepted connection."""
    host, port = settings.http_host, settings.http_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.receive_buffer_bytes:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, settings.receive_buffer_bytes)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def runner_options(settings: IngressSettings) -> dict[str, Any]:
    """Options of the AppRunner (or aiohttp's TestServer) that serves the webhook port."""
    return {
        # aiohttp closes a connection that has not delivered a whole request's headers this long
        # after it opened or after its previous answer: the header deadline.
        "keepalive_timeout": settings.header_timeout_s,
        "lingering_time": LINGER_S,
        "read_bufsize": READ_BUFFER_BYTES,
        "access_log": None,
        "handle_signals": False,
        "shutdown_timeout": 10.0,
    }


class ClientLimit:
    """Open connections per client address; a connection past the limit is closed at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()
        self._address: dict[RequestHandler, str] = {}
        self.refused = 0

    def admit(self, handler: RequestHandler, transport: asyncio.Transport) -> bool:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self.open[address] >= self.limit:
            self.refused += 1
            return False
        self.open[address] += 1
        self._address[handler] = address
        return True

    def release(self, handler: RequestHandler) -> None:
        address = self._address.pop(handler, None)
        if address is not None:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]


class IngressRunner(web.AppRunner):
    """An AppRunner whose server enforces a ClientLimit (when the limit is not 0)."""

    def __init__(self, app: web.Application, settings: IngressSettings) -> None:
        super().__init__(app, **runner_options(settings))
        self.client_limit = ClientLimit(settings.max_connections_per_client)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        if self.client_limit.limit > 0:
            _limit_connections(server, self.client_limit)
        return server


def _limit_connections(server: web.Server, limit: ClientLimit) -> None:
    # aiohttp's Server is told of every connection (connection_made / connection_lost); the limit
    # wraps those two calls of this one server instance.
    made, lost = server.connection_made, server.connection_lost

    def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
        made(handler, transport)
        if not limit.admit(handler, transport):
            log.info("connection_refused", reason="too many connections from one client")
            transport.abort()

    def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
        limit.release(handler)
        lost(handler, exc)

    setattr(server, "connection_made", connection_made)  # noqa: B010
    setattr(server, "connection_lost", connection_lost)  # noqa: B010
