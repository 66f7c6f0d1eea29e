"""Fetching feeds over HTTP(S) with httpx, and from file:// URLs.

Outbound HTTP is explicit: a User-Agent, connect/read timeouts plus a total
deadline per request (httpx's timeouts are per operation, so a server trickling
a byte every 200 ms would otherwise never time out), redirects followed by hand
(to record permanent moves and refuse loops and non-HTTP targets), proxies from
the environment ignored (only config.toml names one: ``proxy_for``), and a cap on
the body counted after decompression. The body is decoded here from the raw stream,
one Content-Encoding at most, because httpx does not bound decompression.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from monitor.clock import utc_now
from monitor.config import FetchSettings
from monitor.config.secrets import read_secret
from monitor.errors import BodyTooLarge, ConfigError, FeedGone, FetchError, RetryLater
from monitor.fetch.limits import HostLimits
from monitor.fetch.transport import LeanTransport, default_ssl_context
from monitor.headers import parse_retry_after, server_now
from monitor.redact import redact_url, remember_url
from monitor.types import Feed

_PERMANENT = frozenset({301, 308})
_REDIRECT = frozenset({301, 302, 303, 307, 308})
# Headers later stages use: validators, caching hints, and the type for decoding.
_KEPT_HEADERS = (
    "content-type",
    "etag",
    "last-modified",
    "cache-control",
    "expires",
    "retry-after",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class FetchResult:
    url: str  # where the body came from, after redirects
    status: int  # 200 or 304
    body: bytes | None  # None when not modified
    headers: Mapping[str, str] = field(default_factory=dict)
    permanent_url: str | None = None  # set when every redirect hop was permanent
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def last_modified(self) -> str | None:
        return self.headers.get("last-modified")


def _to_wire(value: str) -> bytes:
    """A stored validator as the bytes the server sent (kept as Latin-1, see ``_finish``)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _check_http_url(url: str, where: str, problem: str) -> httpx.URL:
    """``url`` as httpx parses it; FetchError (for ``where``) unless httpx can request it."""
    try:
        return _http_url(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise FetchError(where, f"{problem}: {exc}") from None
    except _NoHost:
        raise FetchError(where, f"{problem}: no host") from None


class _NoHost(Exception):
    pass


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _basic_auth(url: httpx.URL) -> tuple[bytes, bytes] | None:
    """The Authorization header for ``user:password@`` in ``url``, as httpx.Client sends it."""
    if not url.userinfo:
        return None
    user, _, password = url.userinfo.decode("ascii").partition(":")
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    return b"Authorization", b"Basic " + base64.b64encode(pair)


@functools.lru_cache(maxsize=4096)
def _http_url(url: str) -> httpx.URL:
    """The parsed URL, kept: a feed's URL is parsed once, not at every poll."""
    parts = urlsplit(url)
    _ = parts.port  # ValueError when out of range
    parsed = httpx.URL(url)
    if not parts.hostname:
        raise _NoHost
    return parsed


def _headers_of(response: httpx.Response) -> dict[str, str]:
    """Lowercased name -> value, as ``response.headers.get`` gives them (repeated headers
    joined with ", "), read in one pass instead of one scan per lookup."""
    encoding = response.headers.encoding
    out: dict[str, str] = {}
    for key, value in response.headers.raw:
        name = key.lower().decode(encoding)
        text = value.decode(encoding)
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


DRAIN_LIMIT = 64 * 1024
_NO_BODY = httpx.ByteStream(b"")  # a GET's (empty) body


async def _drain(response: httpx.Response) -> None:
    """Read a small unwanted body to its end, so the connection can be reused.

    A longer one is left unread: httpx then closes the connection instead.
    """
    size = 0
    stream = response.stream  # the transport's own stream: nothing is kept, so skip httpx's
    chunks = stream if isinstance(stream, httpx.AsyncByteStream) else response.aiter_raw()
    async for chunk in chunks:
        size += len(chunk)
        if size > DRAIN_LIMIT:
            return


class _Decoder:
    """Decodes one Content-Encoding incrementally, never producing more than ``limit`` bytes."""

    def __init__(self, encoding: str, url: str, limit: int) -> None:
        self.url = url
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []
        self.encoding = encoding
        self._zlib: zlib._Decompress | None = None
        if encoding in ("gzip", "x-gzip", "deflate"):
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        elif encoding not in ("", "identity"):
            raise FetchError(url, f"unsupported Content-Encoding {encoding!r}")

    def feed(self, data: bytes) -> None:
        if self._zlib is None:
            self._add(data)
            return
        try:
            while data:
                room = self.limit - self.size + 1
                self._add(self._zlib.decompress(data, room))
                data = self._zlib.unconsumed_tail
        except zlib.error as exc:
            if self.encoding == "deflate" and self.size == 0 and not self.chunks:
                # Some servers send raw deflate without the zlib header.
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                self.encoding = "raw-deflate"
                self.feed(data)
                return
            raise FetchError(self.url, f"corrupt {self.encoding} body: {exc}") from exc

    def _add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise BodyTooLarge(self.url, f"body larger than {self.limit} bytes (cap)")
        if data:
            self.chunks.append(data)

    def result(self) -> bytes:
        if self._zlib is not None:
            self._add(self._zlib.flush(self.limit - self.size + 1))
        return b"".join(self.chunks)


def proxy_for(settings: FetchSettings, feed: Feed | None = None) -> str | None:
    """The forward proxy a feed is fetched through, None for none: the feed's own
    (``proxy_env``, then ``proxy``), else [fetch]'s. A variable's value is read at each
    poll, so a rotated password needs no reload; ConfigError when it is not set."""
    if feed is not None and feed.proxy_env:
        return _proxy_from_env(feed.proxy_env, "feeds.proxy_env")
    if feed is not None and feed.proxy:
        return feed.proxy
    if settings.proxy_env:
        return _proxy_from_env(settings.proxy_env, "fetch.proxy_env")
    return settings.proxy


def _feed_url(variable: str) -> str:
    """The URL of a feed with ``url_env``, read at each poll (it may be rotated)."""
    value = read_secret(variable, key="feeds.url_env").strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{variable} does not hold an http(s) URL", key="feeds.url_env")
    remember_url(value)
    return value


def _proxy_from_env(env: str, key: str) -> str:
    value = read_secret(env, key=key)
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{env} does not hold a proxy URL", key=key) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{env} does not hold an http(s) proxy URL", key=key)
    remember_url(value)
    return value


class Fetcher:
    """Fetches URLs with bounded concurrency overall and per host. Use as an async context."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limits: HostLimits | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.settings = settings
        self._shared = limits  # None: limits of its own, made on entering
        self._limits = limits
        self._transport = transport
        self._ssl_context = ssl_context
        self._http: httpx.AsyncBaseTransport | None = None
        # A proxied feed goes through httpx's own transport for its proxy (absolute-form
        # requests for http, CONNECT for https), one per proxy URL, made when first used.
        self._proxied: dict[str, httpx.AsyncBaseTransport] = {}
        self._headers: list[tuple[bytes, bytes]] = []
        self._timeouts: dict[str, float] = {}
        self._cookies = httpx.Cookies()

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        # Requests go straight to the transport: what httpx.AsyncClient would add around
        # them (redirects, auth, proxies from the environment) is not wanted here, and
        # costs more than the rest of a conditional GET. What it would send is sent:
        # its default headers in its order with ours in place (Host goes first), the
        # timeouts, and cookies a server set earlier in this poll.
        self._http = self._transport or LeanTransport(
            max_idle=s.concurrency, ssl_context=self._ssl_context
        )
        self._cookies = httpx.Cookies()  # a client's jar lived as long as the client
        self._headers = [
            (b"Accept", b"*/*"),
            (b"Accept-Encoding", b"gzip, deflate"),
            (b"Connection", b"keep-alive"),
            (b"User-Agent", s.user_agent.encode("ascii")),
        ]
        self._timeouts = {
            "connect": s.connect_timeout,
            "read": s.read_timeout,
            "write": s.read_timeout,
            "pool": s.timeout,
        }
        self._limits = self._shared or HostLimits(s)
        return self

    async def __aexit__(self, *exc: object) -> None:
        proxied, self._proxied = self._proxied, {}
        for transport in proxied.values():
            await transport.aclose()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _via(self, proxy: str | None) -> httpx.AsyncBaseTransport:
        """The transport for requests through ``proxy`` (None: the direct one)."""
        assert self._http is not None, "use Fetcher as an async context manager"
        if proxy is None:
            return self._http
        transport = self._proxied.get(proxy)
        if transport is None:
            n = self.settings.concurrency
            transport = self._proxied[proxy] = httpx.AsyncHTTPTransport(
                proxy=httpx.Proxy(proxy),
                verify=self._ssl_context or default_ssl_context(),
                trust_env=False,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            )
        return transport

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        feed: Feed | None = None,
    ) -> FetchResult:
        """Fetch ``url``, sending back the validators exactly as the server gave them.

        ``feed``, the feed fetched, brings what it was configured with: its proxy (else
        [fetch]'s), headers, User-Agent and credentials; when ``url`` is its identity and
        the feed has ``url_env``, the URL fetched is that variable's value.
        """
        try:
            if feed is not None and feed.url_env and url == feed.url:
                url = _feed_url(feed.url_env)
            proxy = proxy_for(self.settings, feed)
            common, private = self._request_headers(feed)
        except ConfigError as exc:
            raise FetchError(url, f"{exc.key}: {exc.detail}") from None
        try:
            scheme = urlsplit(url).scheme.lower()
        except ValueError as exc:
            raise FetchError(url, f"invalid URL: {exc}") from None
        if scheme == "file":
            return await asyncio.to_thread(self._read_file, url, last_modified)
        if scheme not in ("http", "https"):
            raise FetchError(url, f"unsupported URL scheme {scheme!r}")
        parsed = _check_http_url(url, url, "invalid URL")
        assert self._limits is not None, "use Fetcher as an async context manager"
        async with self._limits.slot(urlsplit(url).netloc.lower()):
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.timeout):
                    result = await self._follow(
                        url, parsed, etag, last_modified, proxy, common, private
                    )
            except TimeoutError:
                raise FetchError(
                    url,
                    f"timed out: no complete response within {self.settings.timeout:g}s",
                    transient=True,
                ) from None
            return FetchResult(
                url=result.url,
                status=result.status,
                body=result.body,
                headers=result.headers,
                permanent_url=result.permanent_url,
                elapsed=time.monotonic() - started,
            )

    def _request_headers(
        self, feed: Feed | None
    ) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        """The headers of every request for ``feed``, and those for its own origin only."""
        if feed is None or not (
            feed.headers or feed.user_agent or feed.username or feed.env_headers
        ):
            return self._headers, []
        common = list(self._headers)
        if feed.user_agent:
            common = [(k, v) for k, v in common if k != b"User-Agent"]
            common.append((b"User-Agent", feed.user_agent.encode("ascii")))
        for name, value in feed.headers:  # the feed's own replace the defaults
            common = [(k, v) for k, v in common if k.lower() != name.lower().encode()]
            common.append((name.encode("ascii"), value.encode("ascii")))
        private: list[tuple[bytes, bytes]] = []
        if feed.username and feed.password_env:
            password = read_secret(feed.password_env, key="feeds.password_env")
            pair = f"{feed.username}:{password}".encode()
            private.append((b"Authorization", b"Basic " + base64.b64encode(pair)))
        for name, variable in feed.env_headers:
            value = read_secret(variable, key=f"feeds.headers.{name}")
            if not value.isascii() or not all(ch == "\t" or ch.isprintable() for ch in value):
                raise ConfigError(f"{variable} does not hold a header value", key="feeds.headers")
            private.append((name.encode("ascii"), value.strip().encode("ascii")))
        return common, private

    async def _get(
        self, url: httpx.URL, headers: list[tuple[bytes, bytes]], proxy: str | None = None
    ) -> httpx.Response:
        """Send a GET as httpx.AsyncClient would (see ``__aenter__``); close the response."""
        transport = self._via(proxy)
        # With stream= httpx adds no headers of its own: Host goes first, as it would put it.
        request = httpx.Request(
            "GET",
            url,
            headers=[(b"Host", url.netloc), *headers],
            stream=_NO_BODY,
            extensions={"timeout": self._timeouts},
        )
        if self._cookies:
            self._cookies.set_cookie_header(request)
        response = await transport.handle_async_request(request)
        response.request = request
        if any(key.lower() == b"set-cookie" for key, _ in response.headers.raw):
            self._cookies.extract_cookies(response)
        return response

    async def _follow(
        self,
        url: str,
        parsed: httpx.URL,
        etag: str | None,
        last_modified: str | None,
        proxy: str | None = None,
        common: list[tuple[bytes, bytes]] | None = None,
        private: list[tuple[bytes, bytes]] | None = None,
    ) -> FetchResult:
        seen = {url}
        current = url
        permanent = True
        # Credentials (the feed's URL's, or its username's, and its headers from the
        # environment) go to its origin only, redirects included.
        own = list(private or ())
        auth, origin = _basic_auth(parsed), _origin(parsed)
        if auth is not None and not any(k == b"Authorization" for k, _ in own):
            own.append(auth)
        for _ in range(self.settings.max_redirects + 1):
            headers = list(common or self._headers)
            if own and _origin(parsed) == origin:
                headers += own
            if etag:
                headers.append((b"If-None-Match", _to_wire(etag)))
            if last_modified:
                headers.append((b"If-Modified-Since", _to_wire(last_modified)))
            try:
                response = await self._get(parsed, headers, proxy)
                try:
                    if response.status_code not in _REDIRECT:
                        return await self._finish(url, current, response, permanent)
                    location = response.headers.get("location")
                    await _drain(response)
                finally:
                    await response.aclose()
            except httpx.TimeoutException as exc:
                raise FetchError(
                    current, f"timed out ({type(exc).__name__})", transient=True
                ) from exc
            except httpx.InvalidURL as exc:
                # Every URL requested was checked first, so httpx choked on a Location header.
                raise FetchError(current, f"invalid redirect Location: {exc}") from exc
            except httpx.ProxyError as exc:  # the proxy refused: its words, never its URL
                raise FetchError(
                    current, f"proxy {redact_url(proxy or '')}: {exc}", transient=True
                ) from exc
            except httpx.HTTPError as exc:
                # Connection refused or reset, a name that does not resolve: may pass.
                raise FetchError(current, f"{type(exc).__name__}: {exc}", transient=True) from exc
            if not location:
                raise FetchError(current, f"redirect {response.status_code} without Location")
            try:
                target = urljoin(current, location)
                scheme = urlsplit(target).scheme.lower()
            except ValueError as exc:
                raise FetchError(
                    current, f"invalid redirect Location {location!r}: {exc}"
                ) from None
            if scheme not in ("http", "https"):
                raise FetchError(current, f"refusing redirect to non-HTTP URL {target!r}")
            parsed = _check_http_url(target, current, f"invalid redirect target {target!r}")
            if target in seen:
                raise FetchError(url, f"redirect loop at {target}")
            seen.add(target)
            permanent = permanent and response.status_code in _PERMANENT
            current = target
        raise FetchError(url, f"more than {self.settings.max_redirects} redirects")

    async def _finish(
        self, url: str, current: str, response: httpx.Response, permanent: bool
    ) -> FetchResult:
        status = response.status_code
        headers = _headers_of(response)
        kept = {k: headers[k] for k in _KEPT_HEADERS if k in headers}
        # Validators go back byte for byte: keep them as Latin-1, which round-trips any byte.
        for key, value in response.headers.raw:
            if key.lower() in (b"etag", b"last-modified"):
                kept[key.lower().decode()] = value.decode("latin-1")
        moved = current if permanent and current != url else None
        if not 200 <= status < 300:
            await _drain(response)
        if status == 304:
            return FetchResult(
                url=current, status=304, body=None, headers=kept, permanent_url=moved
            )
        if status == 410:
            raise FeedGone(current, "410 Gone: the server says the feed was removed", status=410)
        if status in (429, 503):
            delay = parse_retry_after(
                headers.get("retry-after"), server_now(headers.get("date"), utc_now())
            )
            hint = f", Retry-After {delay:g}s" if delay is not None else ""
            raise RetryLater(current, f"HTTP {status}{hint}", status=status, retry_after=delay)
        if not 200 <= status < 300:
            raise FetchError(current, f"HTTP {status} {response.reason_phrase}", status=status)
        declared = headers.get("content-length", "")
        if (
            declared.isdigit()
            and int(declared) > self.settings.max_bytes
            and not (headers.get("content-encoding"))
        ):
            raise BodyTooLarge(current, f"Content-Length {declared} exceeds the cap")
        codings = [
            c.strip().lower()
            for c in headers.get("content-encoding", "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if len(codings) > 1:
            raise FetchError(current, f"refusing stacked Content-Encoding {', '.join(codings)}")
        decoder = _Decoder(codings[0] if codings else "", current, self.settings.max_bytes)
        async for chunk in response.aiter_raw():
            decoder.feed(chunk)
        return FetchResult(
            url=current, status=status, body=decoder.result(), headers=kept, permanent_url=moved
        )

    def _read_file(self, url: str, last_modified: str | None) -> FetchResult:
        path = Path(unquote(urlsplit(url).path))
        try:
            stat = path.stat()
            stamp = str(stat.st_mtime_ns)
            if last_modified == stamp:
                return FetchResult(url=url, status=304, body=None, headers={"last-modified": stamp})
            if stat.st_size > self.settings.max_bytes:
                raise BodyTooLarge(url, f"file larger than {self.settings.max_bytes} bytes (cap)")
            with path.open("rb") as handle:
                body = handle.read(self.settings.max_bytes + 1)
        except OSError as exc:
            raise FetchError(url, f"cannot read file: {exc.strerror or exc}") from exc
        if len(body) > self.settings.max_bytes:
            raise BodyTooLarge(url, f"file larger than {self.settings.max_bytes} bytes (cap)")
        return FetchResult(url=url, status=200, body=body, headers={"last-modified": stamp})
