"""Fetching article pages: non-public addresses refused at connect time, against a real server.

The loopback server logs every request it gets, so "refused" here means the request never
reached it. Names are resolved by an injected resolver: no test touches real DNS, and a
public address is only ever handed to a recording backend that connects nowhere.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpcore
import pytest

from monitor.articles.pages import ArticleFetcher, BlockedAddress
from monitor.config import FetchSettings
from monitor.errors import BodyTooLarge, FetchError
from monitor.fetch.fetcher import FetchResult
from monitor.fetch.pinned import GuardedBackend
from monitor.netguard import AllowList, IPAddress
from tests.feedserver import FeedServer, Request, Response, TLSFeedServer, tls_feed_server

CAP = 64 * 1024
SETTINGS = FetchSettings(
    timeout=5.0, connect_timeout=2.0, read_timeout=2.0, max_bytes=CAP, max_redirects=3
)
PAGE = b"<html><head><title>Talks</title></head><body><p>MFN status.</p></body></html>"
PUBLIC = "93.184.215.14"  # never connected to: only a recording backend sees it

# The table: each must be refused before a byte reaches the loopback server.
BLOCKED_HOSTS = [
    "127.0.0.2",
    "[::1]",
    "localhost.",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "[::ffff:127.0.0.1]",
    "100.64.0.1",
    "169.254.169.254",
    "[64:ff9b::a9fe:a9fe]",
    "[fd00::1]",
    "0.0.0.0",
]
# The spellings above that mean 127.0.0.1, where the server listens.
SERVER_SPELLINGS = ["2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]", "localhost."]


class FakeResolver:
    """Answers from a table (a list of answers is used one per call), and logs every call."""

    def __init__(self, table: dict[str, Any] | None = None) -> None:
        self.table = dict(table or {})
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str | IPAddress]:
        self.calls.append(host)
        answer = self.table.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if answer and isinstance(answer[0], list):  # a different answer on each call
            return list(answer.pop(0))
        return list(answer)


class RecordingNetwork(httpcore.AsyncNetworkBackend):
    """A network backend that records where it was asked to connect and connects nowhere."""

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        raise httpcore.ConnectError("recording network: not connecting")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LoopbackOnlyNetwork(RecordingNetwork):
    """Records every connection and makes only those to 127.0.0.1: even with a broken guard,
    no test reaches past this machine."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        if host != "127.0.0.1":
            return await super().connect_tcp(host, port, timeout)
        self.connects.append((host, port))
        return await httpcore.AnyIOBackend().connect_tcp(host, port, timeout)


def fetch(
    url: str,
    *,
    allow: Sequence[str] = (),
    resolver: FakeResolver | None = None,
    settings: FetchSettings = SETTINGS,
    network: httpcore.AsyncNetworkBackend | None = None,
    **kwargs: Any,
) -> FetchResult:
    async def run() -> FetchResult:
        fetcher = ArticleFetcher(
            settings,
            allow=allow,
            resolver=resolver or FakeResolver(),
            network=network or LoopbackOnlyNetwork(),
            **kwargs,
        )
        async with fetcher:
            return await fetcher.fetch(url)

    return asyncio.run(run())


def fetch_error(url: str, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, **kwargs)
    return info.value


# -- the table: refused, and the server sees nothing ------------------------------------------


@pytest.mark.parametrize("host", BLOCKED_HOSTS)
def test_blocked_host_is_refused(feed_server: FeedServer, host: str) -> None:
    feed_server.route("/article", PAGE)
    resolver = FakeResolver({"localhost": ["127.0.0.1"]})
    url = f"http://{host}:{feed_server.port}/article"
    network = LoopbackOnlyNetwork()
    error = fetch_error(url, resolver=resolver, network=network)
    assert isinstance(error, BlockedAddress), error
    assert error.url == url
    assert feed_server.requests == [] and network.connects == []
    assert resolver.calls == []  # literal spellings and localhost never go to DNS


@pytest.mark.parametrize("host", ["127.0.0.1", *BLOCKED_HOSTS])
def test_redirect_from_allowed_host_to_blocked_one(feed_server: FeedServer, host: str) -> None:
    target = f"http://{host}:{feed_server.port}/second"
    feed_server.route("/second", PAGE)
    feed_server.route("/start", status=302, headers={"Location": target})
    resolver = FakeResolver({"allowed.test": ["127.0.0.1"]})
    start = f"http://allowed.test:{feed_server.port}/start"
    network = LoopbackOnlyNetwork()
    error = fetch_error(start, allow=["allowed.test"], resolver=resolver, network=network)
    if host == "0177.0.0.1":  # httpx itself will not parse this Location
        assert "Invalid IPv4 address" in str(error)
    else:
        assert isinstance(error, BlockedAddress), error
        assert f"{feed_server.port}" in error.reason and error.url == start
    assert [r.path for r in feed_server.requests] == ["/start"]  # the second never made
    assert network.connects == [("127.0.0.1", feed_server.port)]  # nor its connection
    assert resolver.calls == ["allowed.test"]


@pytest.mark.parametrize("host", ["::1", "localhost", "2130706433", "127.1", "::ffff:7f00:1"])
def test_connect_time_check_without_the_url_precheck(host: str) -> None:
    """What httpcore hands the backend is vetted on its own, whatever came before."""
    network = RecordingNetwork()
    backend = GuardedBackend(AllowList(), FakeResolver(), network)
    with pytest.raises(BlockedAddress):
        asyncio.run(backend.connect_tcp(host, 80, timeout=1.0))
    assert network.connects == []


@pytest.mark.parametrize("host", SERVER_SPELLINGS)
def test_the_table_would_reach_the_server_if_allowed(feed_server: FeedServer, host: str) -> None:
    """The control: the same spellings, allow-listed, do reach the server."""
    feed_server.route("/article", PAGE)
    url = f"http://{host}:{feed_server.port}/article"
    result = fetch(url, allow=["127.0.0.0/8", "localhost"])
    assert result.status == 200 and result.body == PAGE
    assert len(feed_server.requests) == 1


@pytest.mark.parametrize(
    "answers", [["127.0.0.1", PUBLIC], [PUBLIC, "127.0.0.1"], [PUBLIC, "::1"], [PUBLIC, "10.0.0.1"]]
)
def test_name_with_public_and_private_addresses_is_refused(
    feed_server: FeedServer, answers: list[str]
) -> None:
    feed_server.route("/article", PAGE)
    network = RecordingNetwork()
    resolver = FakeResolver({"mixed.test": answers})
    error = fetch_error(
        f"http://mixed.test:{feed_server.port}/article", resolver=resolver, network=network
    )
    assert isinstance(error, BlockedAddress)
    assert "mixed.test resolves to it" in error.reason
    assert network.connects == [] and feed_server.requests == []
    # ... and with the real network too, where the loopback address is the server's
    error = fetch_error(
        f"http://mixed.test:{feed_server.port}/article",
        resolver=FakeResolver({"mixed.test": ["127.0.0.1", PUBLIC]}),
    )
    assert isinstance(error, BlockedAddress) and feed_server.requests == []


def test_connection_goes_to_the_vetted_address_not_a_second_answer() -> None:
    """DNS rebinding: the name is resolved once per connection and the socket is pinned."""
    network = RecordingNetwork()
    resolver = FakeResolver({"rebind.test": [[PUBLIC], ["127.0.0.1"]]})
    backend = GuardedBackend(AllowList(), resolver, network)
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("rebind.test", 80, timeout=1.0))
    assert network.connects == [(PUBLIC, 80)]  # the address checked, not the name
    with pytest.raises(BlockedAddress):  # the next connection resolves again, and is checked
        asyncio.run(backend.connect_tcp("rebind.test", 80, timeout=1.0))
    assert network.connects == [(PUBLIC, 80)]
    assert resolver.calls == ["rebind.test", "rebind.test"]


def test_ipv4_mapped_answer_is_connected_as_ipv4() -> None:
    network = RecordingNetwork()
    resolver = FakeResolver({"mapped.test": [f"::ffff:{PUBLIC}"]})
    backend = GuardedBackend(AllowList(), resolver, network)
    with pytest.raises(httpcore.ConnectError):
        asyncio.run(backend.connect_tcp("mapped.test", 443, timeout=1.0))
    assert network.connects == [(PUBLIC, 443)]


# -- allowed sources are fetched --------------------------------------------------------------


def test_allow_listed_address_with_port_is_fetched(feed_server: FeedServer) -> None:
    url = feed_server.route("/article", PAGE, content_type="text/html")
    result = fetch(url, allow=[f"127.0.0.1:{feed_server.port}"])
    assert (result.status, result.body, result.url) == (200, PAGE, url)
    assert result.headers["content-type"] == "text/html"
    other_port = fetch_error(url, allow=[f"127.0.0.1:{feed_server.port + 1}"])
    assert isinstance(other_port, BlockedAddress)
    assert len(feed_server.requests) == 1


def test_allow_listed_name_is_fetched_with_its_host_header(feed_server: FeedServer) -> None:
    feed_server.route("/final", PAGE)
    feed_server.route("/start", status=301, headers={"Location": "/final"})
    resolver = FakeResolver({"intranet.test": ["127.0.0.1"]})
    url = f"http://intranet.test:{feed_server.port}/start"
    result = fetch(url, allow=["intranet.test"], resolver=resolver)
    assert result.body == PAGE and result.url == f"http://intranet.test:{feed_server.port}/final"
    assert [r.header("Host") for r in feed_server.requests] == [
        f"intranet.test:{feed_server.port}"
    ] * 2
    assert "news-monitor" in (feed_server.requests[0].header("User-Agent") or "")
    assert resolver.calls == ["intranet.test"]  # one connection, reused for the redirect


def test_allow_listed_subdomains(feed_server: FeedServer) -> None:
    url = f"http://wiki.corp.test:{feed_server.port}/article"
    feed_server.route("/article", PAGE)
    resolver = FakeResolver({"wiki.corp.test": ["127.0.0.1"], "corp.test": ["127.0.0.1"]})
    assert fetch(url, allow=["*.corp.test"], resolver=resolver).body == PAGE
    bare = fetch_error(url.replace("wiki.", ""), allow=["*.corp.test"], resolver=resolver)
    assert isinstance(bare, BlockedAddress)


@pytest.fixture
def tls_server() -> Iterator[tuple[TLSFeedServer, ssl.SSLContext]]:
    with tls_feed_server("intranet.test") as pair:
        yield pair


def test_https_to_a_pinned_address_checks_the_name(
    tls_server: tuple[TLSFeedServer, ssl.SSLContext],
) -> None:
    """SNI and the certificate are for the URL's name, though the socket goes to the IP."""
    server, client_context = tls_server
    server.route("/article", PAGE)
    resolver = FakeResolver({"intranet.test": ["127.0.0.1"]})
    url = f"https://intranet.test:{server.port}/article"
    result = fetch(url, allow=["intranet.test"], resolver=resolver, ssl_context=client_context)
    assert result.body == PAGE
    assert server.requests[0].header("Host") == f"intranet.test:{server.port}"
    # The same server by address: the certificate does not name 127.0.0.1.
    error = fetch_error(
        f"https://127.0.0.1:{server.port}/article",
        allow=["127.0.0.1"],
        ssl_context=client_context,
    )
    assert "CERTIFICATE_VERIFY_FAILED" in str(error) or "certificate" in str(error).lower()


# -- the same limits as feeds -----------------------------------------------------------------


def test_body_cap_applies(feed_server: FeedServer) -> None:
    allow = [f"127.0.0.1:{feed_server.port}"]
    big = feed_server.route("/big", b"x" * (CAP + 1))
    with pytest.raises(BodyTooLarge):
        fetch(big, allow=allow)
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < CAP
    url = feed_server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(BodyTooLarge):
        fetch(url, allow=allow)


def test_total_deadline_applies(feed_server: FeedServer) -> None:
    def trickle(_request: Request) -> Response:
        return Response(body=(b"<p>x</p>" for _ in range(1000)), delay=0.1)

    url = feed_server.route("/slow", handler=trickle)
    settings = FetchSettings(timeout=1.0, connect_timeout=1.0, read_timeout=1.0, max_bytes=CAP)
    started = time.monotonic()
    error = fetch_error(url, allow=["127.0.0.1"], settings=settings)
    assert "timed out" in str(error)
    assert time.monotonic() - started < 3.0


def test_per_host_politeness_applies(feed_server: FeedServer) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(_request: Request) -> Response:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.15)
        with lock:
            active -= 1
        return Response(body=PAGE)

    feed_server.route("/article", handler=slow)
    settings = FetchSettings(timeout=5.0, per_host=1, max_bytes=CAP)

    async def run() -> list[FetchResult]:
        async with ArticleFetcher(settings, allow=["127.0.0.1"]) as fetcher:
            urls = [feed_server.url(f"/article?n={n}") for n in range(3)]
            return await asyncio.gather(*(fetcher.fetch(u) for u in urls))

    results = asyncio.run(run())
    assert [r.body for r in results] == [PAGE] * 3
    assert peak == 1


# -- what is never fetched --------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "/relative/path", "gopher://a.test/"]
)
def test_only_http_urls(url: str) -> None:
    error = fetch_error(url, allow=["0.0.0.0/0", "::/0"])
    assert "only http(s)" in error.reason


def test_unresolvable_name_is_a_fetch_error(feed_server: FeedServer) -> None:
    error = fetch_error(f"http://nowhere.test:{feed_server.port}/", resolver=FakeResolver())
    assert not isinstance(error, BlockedAddress)
    assert "cannot resolve nowhere.test" in str(error)
    assert feed_server.requests == []


def test_bad_allow_entry_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        ArticleFetcher(SETTINGS, allow=["10.0.0.1/8"])
