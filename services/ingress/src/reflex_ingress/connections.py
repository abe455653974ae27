"""How the webhook port takes connections: a header deadline, a short linger after a refusal, and at
most `max_connections_per_client` open connections per client address."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from reflex_ingress.keys import LOG_THROTTLE
from reflex_ingress.log_throttle import LogThrottle
from reflex_ingress.settings import IngressSettings

# What the ingress calls itself in `Server`: no version for the world to match exploits against.
SERVER_NAME = "reflex-ingress"

# After answering a request whose body was not read (413, 503), read and drop what the sender still
# sends for at most this long, so that it sees the answer rather than a reset; then close.
LINGER_S = 2.0


# aiohttp pauses reading a connection whose unread body passes twice this: with the socket's small
# receive buffer (settings.receive_buffer_bytes), what a stalled sender holds of our memory before
# its body is wanted is a few tens of KiB.
READ_BUFFER_BYTES = 16 * 1024


def listening_socket(settings: IngressSettings, backlog: int = 1024, *, reuse_port: bool = False) -> socket.socket:
    """The webhook port's socket; its receive buffer is inherited by every accepted connection.
    `reuse_port`: one of several workers' sockets on the same port (the kernel spreads connections)."""
    host, port = settings.http_host, settings.http_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if settings.receive_buffer_bytes:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, settings.receive_buffer_bytes)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def handler_options(settings: IngressSettings) -> dict[str, Any]:
    """Options of aiohttp's per-connection handler, set on the app (web.Application handler_args),
    so that every server of it, TestServer's too, has them."""
    return {
        # aiohttp closes a connection that has not delivered a whole request's headers this long
        # after it opened or after its previous answer: the header deadline.
        "keepalive_timeout": settings.header_timeout_s,
        "lingering_time": LINGER_S,
        "read_bufsize": READ_BUFFER_BYTES,
        # Bodies are verified over the bytes as sent; the ingress decodes them itself, bounded.
        "auto_decompress": False,
    }


class ClientLimit:
    """Open connections per client address; a connection past the limit is closed at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: Counter[str] = Counter()
        self._address: dict[RequestHandler, str] = {}

    def admit(self, handler: RequestHandler, transport: asyncio.Transport) -> bool:
        if self.limit <= 0:
            return True
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self.open[address] >= self.limit:
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


class IngressRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering malformed HTTP in our words: one JSON line in the
    log (throttled), a JSON 4xx that never echoes the request's bytes, no version in `Server`."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already sent; cannot send an error")
        error = type(exc).__name__ if exc is not None else "error"
        throttle = cast(IngressServer, self._manager).throttle
        event = "malformed_request" if status < 500 else "request_failed"
        throttle.emit("warning" if status < 500 else "error", event, (event, error), status=status, error=error)
        reason = "malformed HTTP request" if status < 500 else "internal error"
        response = web.Response(
            status=status,
            body=orjson.dumps({"error": reason}),
            content_type="application/json",
            headers={"Server": SERVER_NAME},
        )
        response.force_close()
        return response


class IngressServer(web.Server):
    """aiohttp's server with our connection handler and a ClientLimit."""

    def __init__(self, *args: Any, client_limit: ClientLimit, throttle: LogThrottle, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client_limit = client_limit
        self.throttle = throttle

    def __call__(self) -> RequestHandler:
        return IngressRequestHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        if not self.client_limit.admit(handler, transport):
            self.throttle.emit("info", "connection_refused", "per-client", reason="too many connections from a client")
            transport.abort()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        self.client_limit.release(handler)
        super().connection_lost(handler, exc)


class IngressRunner(web.AppRunner):
    """An AppRunner whose server is an IngressServer."""

    def __init__(self, app: web.Application, settings: IngressSettings) -> None:
        super().__init__(app, access_log=None, handle_signals=False, shutdown_timeout=10.0)
        self.client_limit = ClientLimit(settings.max_connections_per_client)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # the app started, its handler options in place
        return IngressServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            client_limit=self.client_limit,
            throttle=self._app[LOG_THROTTLE],
            **server._kwargs,
        )
