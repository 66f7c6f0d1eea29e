"""A lean HTTP/1.1 transport for httpx: asyncio connections, h11 for the protocol.

httpx's default transport (httpcore over anyio) costs over a millisecond of CPU per
request on this kind of machine, several times what a re-poll of unchanged feeds
spends on everything else. This transport does the same job for the fetcher's
requests with less machinery: one asyncio protocol per connection, h11 (the HTTP/1.1
state machine httpcore uses too) for requests and responses, and a pool of idle
keep-alive connections per origin. Everything above the transport is httpx's as
before: the client, requests and responses, timeouts, errors.

What it does, as httpcore does it: connect (and TLS) within the connect timeout,
each read and write within theirs, a connection back to the pool only when both
sides finished the exchange cleanly and the server did not ask to close, idle
connections dropped after ``keepalive_expiry`` seconds or when the server closed
them, a request written into a closing connection still reads the server's answer.
What it does not: proxies (the fetcher uses none), HTTP/2, upgrades. One thing it
adds: a GET or HEAD that finds an idle connection closed by the server before any
byte of the answer (the keep-alive race) is sent again once on a new connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import h11
import httpx

MAX_INCOMPLETE_EVENT_SIZE = 100 * 1024  # response head limit, as httpcore's
READ_SIZE = 64 * 1024
_IDEMPOTENT = frozenset({"GET", "HEAD"})

_default_ssl_context: ssl.SSLContext | None = None


def default_ssl_context() -> ssl.SSLContext:
    """httpx's verifying context with certifi's roots (none named by environment variables,
    as with the client's ``trust_env=False``), made once: it takes a while."""
    global _default_ssl_context
    if _default_ssl_context is None:
        _default_ssl_context = httpx.create_ssl_context(trust_env=False)
    return _default_ssl_context


class _Protocol(asyncio.Protocol):
    """Buffers what arrives and wakes the one reader waiting for it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False  # the peer sent EOF or the connection is gone
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport: uvloop's has every method of asyncio.Transport, not the class.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.error = exc
        self._wake()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Connection:
    """One keep-alive connection to one origin."""

    def __init__(self, origin: tuple[str, str, int], protocol: _Protocol) -> None:
        self.origin = origin
        self.protocol = protocol
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE)
        self.requests = 0
        self.idle_since = 0.0

    @property
    def transport(self) -> asyncio.Transport:
        assert self.protocol.transport is not None
        return self.protocol.transport

    def usable(self, now: float, expiry: float) -> bool:
        """Still fit for another request: open, quiet, and not idle for too long."""
        p = self.protocol
        return not (p.closed or p.buffer or now - self.idle_since > expiry)

    def close(self) -> None:
        if self.protocol.transport is not None:
            self.protocol.transport.close()

    async def read(self, request: httpx.Request, timeout: float | None) -> bytes:
        p = self.protocol
        if not p.buffer and not p.closed:
            loop = asyncio.get_running_loop()
            waiter = p.waiter = loop.create_future()
            # A timer on the future itself: lighter than asyncio.timeout, read after read.
            timer = None if timeout is None else loop.call_later(timeout, _time_out, waiter)
            try:
                await waiter
            except TimeoutError:
                raise httpx.ReadTimeout("timed out reading the response", request=request) from None
            finally:
                p.waiter = None
                if timer is not None:
                    timer.cancel()
        if p.buffer:
            data = bytes(p.buffer[:READ_SIZE])
            del p.buffer[:READ_SIZE]
            return data
        if p.error is not None:
            raise httpx.ReadError(str(p.error) or type(p.error).__name__, request=request)
        return b""  # end of stream

    async def write(self, data: bytes, request: httpx.Request, timeout: float | None) -> None:
        p = self.protocol
        if p.closed or self.transport.is_closing():
            raise httpx.WriteError("the connection is closed", request=request)
        self.transport.write(data)
        if p.paused:
            p.drained = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(timeout):
                    await p.drained
            except TimeoutError:
                raise httpx.WriteTimeout("timed out writing the request", request=request) from None
            finally:
                p.drained = None

    def finish_buffered(self) -> bool:
        """Read the rest of the response from what has arrived already, if it is all there
        (a 304's empty body, say); True when the response is complete."""
        try:
            while True:
                event = self.h11.next_event()
                if isinstance(event, h11.EndOfMessage):
                    return True
                if not isinstance(event, h11.Data):
                    return False  # more to come (NEED_DATA), or the connection closed
        except h11.ProtocolError:
            return False

    async def next_event(self, request: httpx.Request, timeout: float | None) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            if event is not h11.NEED_DATA:
                return event
            nothing_yet = (
                self.h11.their_state is h11.SEND_RESPONSE and not self.h11.trailing_data[0]
            )
            try:
                data = await self.read(request, timeout)
            except httpx.ReadError:
                if nothing_yet:  # reset before a byte of the answer: as good as closed
                    raise _Disconnected("Server disconnected without sending a response.") from None
                raise
            if not data and nothing_yet:
                raise _Disconnected("Server disconnected without sending a response.")
            try:
                self.h11.receive_data(data)
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Disconnected(Exception):
    """The server closed the connection before the first byte of its answer."""


class _Body(httpx.AsyncByteStream):
    """The response body, read as the caller iterates; the connection goes back after."""

    def __init__(
        self,
        pool: LeanTransport,
        connection: _Connection,
        request: httpx.Request,
        timeout: float | None,
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._request = request
        self._timeout = timeout
        self._complete = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while not self._complete:
            event = await connection.next_event(self._request, self._timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError(
                    "the server closed the connection mid-response", request=self._request
                )

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._complete:
            self._complete = self._connection.finish_buffered()
        self._pool._release(self._connection, reusable=self._complete)


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 for httpx.AsyncClient, with keep-alive connections pooled per origin."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle: int = 16,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._idle_count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}", request=request)
        host = url.raw_host.decode("ascii")  # IDNA-encoded; an IPv6 address without brackets
        origin = (scheme, host, url.port or (443 if scheme == "https" else 80))
        timeouts = request.extensions.get("timeout", {})
        for attempt in range(2):
            connection = self._checkout(origin)
            fresh = connection is None
            if connection is None:
                connection = await self._connect(origin, request, timeouts.get("connect"))
            try:
                event = await self._exchange(connection, request, timeouts)
            except _Disconnected as exc:
                connection.close()
                if fresh or attempt or request.method not in _IDEMPOTENT:
                    raise httpx.RemoteProtocolError(str(exc), request=request) from None
                continue  # the keep-alive race: once more, on a new connection
            except BaseException:
                connection.close()
                raise
            body = _Body(self, connection, request, timeouts.get("read"))
            return httpx.Response(
                event.status_code,
                headers=event.headers.raw_items(),
                stream=body,
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason},
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(
        self, connection: _Connection, request: httpx.Request, timeouts: dict[str, Any]
    ) -> h11.Response:
        """Send the request; return the response head (informational ones skipped)."""
        connection.requests += 1
        h = connection.h11
        write = timeouts.get("write")
        try:
            head = h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
            data = h.send(head) or b""
            stream = request.stream
            if isinstance(stream, httpx.ByteStream):  # bytes in memory (b"" for a GET)
                body = b"".join(stream)
                if body:
                    data += h.send(h11.Data(data=body)) or b""
            else:
                async for chunk in stream:  # type: ignore[union-attr]
                    if chunk:
                        data += h.send(h11.Data(data=chunk)) or b""
            data += h.send(h11.EndOfMessage()) or b""
            await connection.write(data, request, write)
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        except httpx.WriteError:
            pass  # the server may have answered and closed already: read what it said
        read = timeouts.get("read")
        while True:
            event = await connection.next_event(request, read)
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise _Disconnected("Server disconnected without sending a response.")
            # h11.InformationalResponse: a 1xx before the real answer

    async def _connect(
        self, origin: tuple[str, str, int], request: httpx.Request, timeout: float | None
    ) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        context = None
        if scheme == "https":
            context = self._ssl_context or default_ssl_context()
        try:
            async with asyncio.timeout(timeout):
                _, protocol = await loop.create_connection(
                    _Protocol,
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                    ssl_handshake_timeout=timeout if context is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return _Connection(origin, protocol)

    def _checkout(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            self._idle_count -= 1
            if connection.usable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _release(self, connection: _Connection, *, reusable: bool) -> None:
        h = connection.h11
        if not (
            reusable
            and h.our_state is h11.DONE
            and h.their_state is h11.DONE
            and not connection.protocol.closed
        ):
            connection.close()
            return
        try:
            h.start_next_cycle()
        except h11.LocalProtocolError:  # e.g. "Connection: close" was said
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.origin, []).append(connection)
        self._idle_count += 1
        while self._idle_count > self._max_idle:
            oldest = min(
                (c for conns in self._idle.values() for c in conns), key=lambda c: c.idle_since
            )
            self._idle[oldest.origin].remove(oldest)
            self._idle_count -= 1
            oldest.close()

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        self._idle_count = 0
