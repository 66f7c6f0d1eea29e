"""A forward HTTP proxy on loopback for tests: threads and sockets, logging each request.

A plain-http request arrives in absolute form (``GET http://host:port/path HTTP/1.1``)
and is passed on in origin form over a new connection, the answer relayed until the
server closes (the proxy asks it to). ``CONNECT host:port`` opens a tunnel that relays
bytes both ways untouched, TLS included. With ``credentials`` set, a request without
the matching ``Proxy-Authorization: Basic ...`` gets a 407. Every request is logged with
its method, target and headers, so a test can check what reached the proxy.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

_HOP_BY_HOP = frozenset({"proxy-authorization", "proxy-connection", "connection", "keep-alive"})


@dataclass(frozen=True)
class ProxyRequest:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class ProxyServer:
    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.credentials = credentials
        self.requests: list[ProxyRequest] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def url(self, userinfo: str = "") -> str:
        return f"http://{userinfo + '@' if userinfo else ''}127.0.0.1:{self.port}"

    def start(self) -> ProxyServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.close()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _track(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.add(conn)

    def _handle(self, conn: socket.socket) -> None:
        self._track(conn)
        try:
            buffer = b""
            while True:
                head, buffer = _read_head(conn, buffer)
                if head is None:
                    return
                request = _parse(head)
                with self._lock:
                    self.requests.append(request)
                if not self._authorized(request):
                    conn.sendall(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b'Proxy-Authenticate: Basic realm="test"\r\n'
                        b"Content-Length: 0\r\n\r\n"
                    )
                    continue
                if request.method == "CONNECT":
                    self._tunnel(conn, request, buffer)
                else:
                    self._forward(conn, request)
                return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _authorized(self, request: ProxyRequest) -> bool:
        if self.credentials is None:
            return True
        user, password = self.credentials
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        return request.header("Proxy-Authorization") == expected

    def _forward(self, conn: socket.socket, request: ProxyRequest) -> None:
        parts = urlsplit(request.target)
        upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
        self._track(upstream)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            lines = [f"{request.method} {path or '/'} HTTP/1.1"]
            lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
            lines.append("Connection: close")
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            while data := upstream.recv(65536):
                conn.sendall(data)
        finally:
            upstream.close()

    def _tunnel(self, conn: socket.socket, request: ProxyRequest, early: bytes) -> None:
        host, _, port = request.target.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        self._track(upstream)
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if early:
            upstream.sendall(early)
        back = threading.Thread(target=_relay, args=(upstream, conn), daemon=True)
        back.start()
        _relay(conn, upstream)
        back.join(5)
        upstream.close()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _read_head(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


def _parse(head: bytes) -> ProxyRequest:
    first, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = first.split(" ", 2)
    headers = tuple(
        (name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)
    )
    return ProxyRequest(method, target, headers)
