"""A loopback HTTP server for tests: serves feed files and misbehaves on purpose.

Routes are registered per test, either as a fixed response::

    server.route("/feed.xml", body=RSS, headers={"ETag": '"v1"'})

or as a handler that sees the request and returns a ``Response``::

    server.route("/feed.xml", handler=lambda req: Response(status=304))

A ``Response`` body is bytes (sent with Content-Length) or an iterable of byte
chunks (sent chunked, or close-delimited with ``chunked=False``, or with any
Content-Length the test supplies), optionally with a delay between chunks, so a
route can stream forever or trickle. Every request is logged with its headers
and the status it got, so a test can assert what the client sent, or that no
request was made at all. Unknown paths get a 404 and are logged too.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True, kw_only=True)
class Request:
    """One request as the server received it, and the status it was answered with."""

    method: str
    path: str  # with the query string, as sent
    headers: tuple[tuple[str, str], ...]
    status: int

    def header(self, name: str) -> str | None:
        """The value of the first header called ``name`` (case-insensitive), exactly as sent."""
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [v for k, v in self.headers if k.lower() == lowered]


@dataclass(kw_only=True)
class Response:
    status: int = 200
    body: bytes | str | Iterable[bytes] = b""
    headers: Headers = ()
    content_type: str | None = "application/rss+xml"  # None: send no Content-Type
    delay: float = 0.0  # seconds to sleep before each chunk of an iterable body
    chunked: bool = True  # iterable body without Content-Length: chunked or close-delimited
    reason: str | None = None


Handler = Callable[[Request], Response]


def _header_items(headers: Headers) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._untrack(self.connection)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        owner = self.server.owner
        headers = tuple((k, v) for k, v in self.headers.items())
        probe = Request(method=self.command, path=self.path, headers=headers, status=0)
        handler = owner._handler_for(urlsplit(self.path).path)
        try:
            response = handler(probe) if handler else Response(status=404, body=b"no such route")
        except Exception as exc:  # a broken test handler must not hang the client
            response = Response(status=599, body=repr(exc).encode(), content_type="text/plain")
        owner._log(
            Request(method=self.command, path=self.path, headers=headers, status=response.status)
        )
        try:
            self._send(response)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            self.close_connection = True

    def _send(self, response: Response) -> None:
        owner = self.server.owner
        items = _header_items(response.headers)
        names = {k.lower() for k, _ in items}
        self.send_response(response.status, response.reason)
        if response.content_type is not None and "content-type" not in names:
            self.send_header("Content-Type", response.content_type)
        for key, value in items:
            self.send_header(key, value)
        body = response.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, bytes):
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        chunked = response.chunked and "content-length" not in names
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif "content-length" not in names:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.flush()
        for chunk in body:
            if owner.stopping.is_set():
                self.close_connection = True
                return
            if response.delay:
                time.sleep(response.delay)
            if not chunk:
                continue
            if chunked:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            else:
                self.wfile.write(chunk)
            self.wfile.flush()
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer


@dataclass
class FeedServer:
    """A threaded HTTP server on 127.0.0.1 with a random port."""

    stopping: threading.Event = field(default_factory=threading.Event)
    _routes: dict[str, Handler] = field(default_factory=dict)
    _requests: list[Request] = field(default_factory=list)
    _connections: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: _Server | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FeedServer:
        httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # wake handlers blocked on keep-alive reads or writes
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- routes ---------------------------------------------------------------------------

    def route(
        self,
        path: str,
        body: bytes | str | Iterable[bytes] = b"",
        *,
        status: int = 200,
        headers: Headers = (),
        content_type: str | None = "application/rss+xml",
        handler: Handler | None = None,
    ) -> str:
        """Serve ``path`` (query ignored) with a fixed response or a handler; return its URL."""
        if handler is None:
            if not isinstance(body, bytes | str):
                raise TypeError("a streamed body can only be sent once: use a handler")
            fixed = Response(status=status, body=body, headers=headers, content_type=content_type)
            handler = lambda _request: fixed  # noqa: E731
        with self._lock:
            self._routes[path] = handler
        return self.url(path)

    def _handler_for(self, path: str) -> Handler | None:
        with self._lock:
            return self._routes.get(path)

    # -- request log ----------------------------------------------------------------------

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[Request]:
        """Requests whose path (without the query) is ``path``."""
        return [r for r in self.requests if urlsplit(r.path).path == path]

    def _log(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _untrack(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)


class TLSFeedServer(FeedServer):
    """The feed server over TLS: set ``context`` (a server context with a certificate) first."""

    context: ssl.SSLContext | None = None

    def start(self) -> TLSFeedServer:
        assert self.context is not None
        httpd = _Server(("127.0.0.1", 0), _RequestHandler)
        httpd.owner = self
        httpd.socket = self.context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@contextlib.contextmanager
def tls_feed_server(host: str) -> Iterator[tuple[TLSFeedServer, ssl.SSLContext]]:
    """A TLS feed server whose certificate (from a test CA) names ``host``, and a client
    context that trusts that CA."""
    import pytest

    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    server = TLSFeedServer()
    server.context = server_context
    server.start()
    try:
        yield server, client_context
    finally:
        server.stop()
