"""Connections pinned to vetted addresses: the connect-time check for article fetches.

httpcore asks its network backend for a TCP stream to (host, port) whenever it opens a
connection: for the first URL and for every redirect hop to a new origin (a pooled
connection is only ever one that was opened, and vetted, this way). ``GuardedBackend``
resolves the host itself (or reads an address literal, in any spelling), checks *every*
address with ``netguard.refusal``, and connects the socket to a checked address, never to
the name, so a second DNS answer (rebinding) cannot change where it goes. TLS is started
afterwards by httpcore with the URL's host as ``server_hostname``, so SNI and certificate
checks stay on the name. ``PinnedTransport`` is httpx's own transport on that backend.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from monitor.errors import FetchError
from monitor.netguard import AllowList, IPAddress, canonical, name_addresses, parse_host, refusal

# host, port -> the addresses the name has (as strings or ipaddress objects)
Resolver = Callable[[str, int], Awaitable[Sequence[str | IPAddress]]]
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class BlockedAddress(FetchError):
    """A fetch was refused because it would connect to a non-public address."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``, in its order of preference."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the policy admits, resolving names with ``resolver``."""

    def __init__(
        self,
        allow: AllowList,
        resolver: Resolver = system_resolver,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow = allow
        self.resolver = resolver
        self.network = network if network is not None else httpcore.AnyIOBackend()

    async def vet(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """The addresses to connect to for ``host``; BlockedAddress unless all pass."""
        where = f"{host}:{port}"
        try:
            target = parse_host(host)
        except ValueError as exc:
            raise BlockedAddress(where, f"refusing host {host!r}: {exc}") from None
        if isinstance(target, str):
            addresses = name_addresses(target) or await self._resolve(target, port, timeout)
        else:
            addresses = (target,)
        reason = refusal(target, port, addresses, self.allow)
        if reason is not None:
            raise BlockedAddress(where, f"refusing to connect to {where}: {reason}")
        return list(dict.fromkeys(map(canonical, addresses)))

    async def _resolve(self, name: str, port: int, timeout: float | None) -> tuple[IPAddress, ...]:
        try:
            async with asyncio.timeout(timeout):
                answers = await self.resolver(name, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {name} took over {timeout:g}s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
        try:
            addresses = tuple(ipaddress.ip_address(a) for a in answers)
        except ValueError as exc:
            raise BlockedAddress(f"{name}:{port}", f"resolver gave a non-address: {exc}") from None
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {name}: no addresses")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        deadline = None if timeout is None else time.monotonic() + timeout
        addresses = await self.vet(host, port, timeout)
        error: Exception | None = None
        for ip in addresses:  # one after another, within the one connect timeout
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self.network.connect_tcp(
                    str(ip), port, left, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(path, "refusing to connect to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's HTTP transport whose connection pool connects through a GuardedBackend.

    No proxies and no certificates from the environment; ``limits`` replace the client's,
    which httpx ignores when it is handed a transport.
    """

    def __init__(
        self,
        backend: GuardedBackend,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        context = ssl_context or httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )
