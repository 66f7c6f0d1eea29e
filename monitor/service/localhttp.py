"""A small HTTP server for local probes that idle or hostile clients cannot exhaust.

``http.server.ThreadingHTTPServer`` gives every connection a thread and a descriptor
for as long as the client keeps it open: a hundred half-open connections used up
the process's descriptors, and feeds, deliveries and reloads failed with it. Here
each connection has ``READ_TIMEOUT`` per read and ``REQUEST_DEADLINE`` for its whole
request (a client sending a byte now and then cannot hold on either), and at most
``MAX_CONNECTIONS`` are served at once: one more is closed as soon as it is accepted.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)
READ_TIMEOUT = 5.0  # seconds a client may stay silent while sending its request
REQUEST_DEADLINE = 10.0  # seconds from accepting a connection to the end of its request
MAX_CONNECTIONS = 16


class _DeadlineReader(io.RawIOBase):
    """A socket's input that gives up at a read timeout or at an overall deadline."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long")
        self._sock.settimeout(min(READ_TIMEOUT, left))
        return self._sock.recv_into(buffer)


class ProbeHandler(BaseHTTPRequestHandler):
    """One request per connection, read within the limits above; nothing is logged."""

    timeout = READ_TIMEOUT  # also bounds writing the answer to a client that stops reading

    def setup(self) -> None:
        super().setup()
        # The file setup() made holds a reference that would keep the socket open.
        self.rfile.close()
        deadline = time.monotonic() + REQUEST_DEADLINE
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline))

    def handle(self) -> None:
        self.close_connection = True
        self.handle_one_request()

    def log_message(self, *args: Any) -> None:
        pass


class BoundedHTTPServer(ThreadingHTTPServer):
    """A threading server on which at most ``limit`` connections are served at once."""

    daemon_threads = True
    request_queue_size = 64  # a burst of probes waits in the kernel, not refused

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        limit: int = MAX_CONNECTIONS,
    ) -> None:
        self._slots = threading.BoundedSemaphore(limit)
        if ":" in address[0]:  # an IPv6 address: socketserver opens IPv4 sockets otherwise
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: closed now rather than queued for ever
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or vanishes is routine here, not a traceback on stderr.
        log.debug("probe connection from %s failed", client_address, exc_info=True)
