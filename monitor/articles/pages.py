"""Fetching article pages from feed-supplied URLs, hardened against reaching private networks.

An ``ArticleFetcher`` is the feed ``Fetcher`` (same User-Agent, connect/read timeouts, total
deadline, body cap counted after decompression, redirects followed by hand, per-host and
overall concurrency limits) on a ``PinnedTransport``: every connection, for the first URL and
for each redirect hop, goes to an address checked at connect time (see ``monitor.fetch.pinned``).
A literal non-public host in the URL itself is refused before anything is queued. Only
http(s) URLs are fetched: a feed cannot make the monitor read a local file.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpcore
import httpx

from monitor.config import FetchSettings
from monitor.errors import FetchError
from monitor.fetch.fetcher import Fetcher, FetchResult
from monitor.fetch.limits import HostLimits
from monitor.fetch.pinned import BlockedAddress, GuardedBackend, PinnedTransport, Resolver
from monitor.fetch.pinned import system_resolver as system_resolver
from monitor.netguard import AllowList, name_addresses, parse_host, refusal

__all__ = ["ArticleFetcher", "BlockedAddress", "FetchResult", "Resolver", "system_resolver"]


class ArticleFetcher:
    """Fetches article pages, refusing non-public addresses. Use as an async context.

    ``allow`` lists the intranet hosts, addresses and networks that may be reached anyway
    (``[articles] allow`` in config; ValueError for a bad entry). ``resolver`` turns a host
    name into addresses (the system resolver by default; tests inject their own), and
    ``network`` is the httpcore backend vetted connections are made through. ``ssl_context``
    replaces the default certificate checks, e.g. for an intranet CA. ``spacing`` is the
    feed fetcher's, so ``host_spacing`` holds across feeds and their articles; ``limits`` a
    fetcher whose overall and per-host concurrency limits this one shares.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        allow: Sequence[str] = (),
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        network: httpcore.AsyncNetworkBackend | None = None,
        limits: HostLimits | None = None,
    ) -> None:
        self.settings = settings
        self.allow = AllowList.parse(allow)
        self._backend = GuardedBackend(self.allow, resolver, network)
        self._ssl_context = ssl_context
        self._fetcher: Fetcher | None = None
        self._limits = limits

    async def __aenter__(self) -> ArticleFetcher:
        s = self.settings
        limits = httpx.Limits(
            max_connections=s.concurrency, max_keepalive_connections=s.concurrency
        )
        transport = PinnedTransport(self._backend, limits=limits, ssl_context=self._ssl_context)
        self._fetcher = await Fetcher(s, transport=transport, limits=self._limits).__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._fetcher is not None:
            await self._fetcher.__aexit__(*exc)
            self._fetcher = None

    async def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` (http or https); BlockedAddress when it would reach a private address."""
        assert self._fetcher is not None, "use ArticleFetcher as an async context manager"
        self._precheck(url)
        try:
            return await self._fetcher.fetch(url)
        except BlockedAddress as exc:  # raised at connect time, naming only host:port
            raise BlockedAddress(url, exc.reason) from None

    def _precheck(self, url: str) -> None:
        """Refuse a non-http(s) URL, or one whose host is a non-public address in any spelling."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise FetchError(url, f"invalid URL: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise FetchError(url, f"refusing {scheme or 'a relative'} URL: only http(s) articles")
        if not host:
            raise FetchError(url, "invalid URL: no host")
        port = port or (443 if scheme == "https" else 80)
        try:
            target = parse_host(host)
        except ValueError as exc:
            raise BlockedAddress(url, f"refusing host {host!r}: {exc}") from None
        known = name_addresses(target) if isinstance(target, str) else (target,)
        reason = refusal(target, port, known, self.allow) if known else None
        if reason is not None:
            raise BlockedAddress(url, f"refusing to connect to {host}:{port}: {reason}")
