"""The eventlet WSGI server that `slidelab serve` runs, with the limits a server needs.

What `socketio.run` does, plus:
- TCP_NODELAY: without it a tile's headers and body can wait on Nagle's algorithm and the
  browser's delayed ACK, 40 ms stalls on cached tiles that take well under a millisecond.
  Linux passes the option from the listening socket to every accepted connection.
- A deadline for a request's headers and for an idle kept-alive connection, and a bound on
  the connections one client address holds at once: otherwise a few hundred half-sent
  requests fill the connection pool before any token is checked, and nobody else is served.
- No tracebacks to clients: eventlet's `debug` mode, which sends them, is off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections import Counter
from collections.abc import Callable

import eventlet
import eventlet.wsgi

from server.config import Config

log = logging.getLogger(__name__)

POOL_SIZE = 1024  # greenlets serving connections; eventlet's default
BUSY_BODY = json.dumps(
    {
        "error": "Too many connections from this address",
        "hint": "Close other tabs or clients of this server, then retry.",
    }
).encode()
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 5\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BUSY_BODY), BUSY_BODY)
)


class HeaderDeadlineProtocol(eventlet.wsgi.HttpProtocol):
    """eventlet's HTTP protocol, closing connections that send headers too slowly."""

    header_timeout = 10.0

    def parse_request(self) -> bool:
        """Parse the headers within `header_timeout` seconds, else drop the connection."""
        with eventlet.Timeout(self.header_timeout, False):
            return super().parse_request()
        log.info(
            "dropped %s: headers not complete in %ss", self.client_address, self.header_timeout
        )
        self.close_connection = True
        return False


class PerClientPool:
    """A green pool that serves at most `limit` connections per client address at once.

    eventlet.wsgi hands every accepted connection `[address, socket, state]` to `spawn`;
    one over the limit gets a 503 and is closed instead of being served.
    """

    def __init__(self, size: int, limit: int) -> None:
        self.pool = eventlet.GreenPool(size)
        self.limit = limit
        self.open: Counter[str] = Counter()

    def spawn(self, serve: Callable, connection: list):
        """Serve the connection, or refuse it when its address holds too many already."""
        address = connection[0][0] if isinstance(connection[0], tuple) else str(connection[0])
        if self.open[address] >= self.limit:
            return self.pool.spawn(_refuse, connection)
        self.open[address] += 1
        thread = self.pool.spawn(serve, connection)
        thread.link(self._release, address)
        return thread

    def _release(self, _thread, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]

    def waitall(self) -> None:
        """Wait for every connection to end (server shutdown)."""
        self.pool.waitall()


def _refuse(connection: list) -> None:
    with contextlib.suppress(OSError):
        connection[1].sendall(BUSY_RESPONSE)


class _WsgiLog:
    """eventlet writes its access log to this; it goes to the logging module."""

    def write(self, message: str) -> None:
        logging.getLogger("slidelab.http").info(message.rstrip())


def serve_forever(app: Callable, config: Config, log_output: bool = False) -> None:
    """Listen on the configured address and serve `app` until interrupted."""
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    listener = eventlet.listen((config.host, config.port), family=family)
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    protocol = type(
        "SlidelabProtocol", (HeaderDeadlineProtocol,), {"header_timeout": config.header_timeout}
    )
    eventlet.wsgi.server(
        listener,
        app,
        log_output=log_output,
        log=_WsgiLog(),
        protocol=protocol,
        custom_pool=PerClientPool(POOL_SIZE, config.max_connections_per_client),
        keepalive=config.idle_timeout,
        # Reads of a body or of websocket frames: clients answer Socket.IO pings every 25 s.
        socket_timeout=config.socket_timeout,
        debug=False,
    )
