"""The fetcher against a real loopback HTTP server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor import aio
from monitor.config import FetchSettings
from monitor.errors import BodyTooLarge, FeedGone, FetchError, RetryLater
from monitor.fetch.fetcher import Fetcher, FetchResult
from monitor.headers import parse_retry_after
from tests.feedserver import FeedServer, Request, Response
from tests.servers import free_port

CAP = 64 * 1024
SETTINGS = FetchSettings(
    timeout=5.0, connect_timeout=2.0, read_timeout=2.0, max_bytes=CAP, max_redirects=3
)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'


def fetch(url: str, settings: FetchSettings = SETTINGS, **kwargs: Any) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(url, **kwargs)

    return asyncio.run(run())


def fetch_error(url: str, settings: FetchSettings = SETTINGS, **kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch(url, settings, **kwargs)
    return info.value


def peak_memory(action: Any) -> tuple[Any, int]:
    """Run ``action`` and return what it returned (or raised) and the peak traced bytes."""
    tracemalloc.start()
    try:
        try:
            outcome = action()
        except Exception as exc:
            outcome = exc
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- what every request carries ---------------------------------------------------------------


def test_user_agent_is_descriptive(feed_server: FeedServer) -> None:
    result = fetch(feed_server.route("/feed.xml", FEED))
    assert result.status == 200 and result.body == FEED
    (request,) = feed_server.requests
    agent = request.header("User-Agent") or ""
    assert "news-monitor" in agent
    assert "python-httpx" not in agent
    assert request.header("Accept-Encoding") == "gzip, deflate"
    assert request.header("If-None-Match") is None
    assert request.header("If-Modified-Since") is None


@pytest.fixture
def dead_proxies(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy)
        monkeypatch.setenv(name.lower(), proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield proxy


def test_proxy_environment_is_ignored(feed_server: FeedServer, dead_proxies: str) -> None:
    url = feed_server.route("/feed.xml", FEED)

    async def naive() -> None:  # control: a client that trusts the environment is broken here
        async with httpx.AsyncClient(trust_env=True, timeout=2.0) as client:
            await client.get(url)

    with pytest.raises(httpx.HTTPError):
        asyncio.run(naive())
    assert feed_server.requests == []
    assert fetch(url).body == FEED
    assert len(feed_server.requests_to("/feed.xml")) == 1


def test_connection_refused_is_a_clean_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}/feed.xml"
    error = fetch_error(url)
    assert type(error) is FetchError
    assert error.url == url
    assert "ConnectError" in error.reason


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:99999/feed.xml", "http://[::1/feed.xml", "gopher://127.0.0.1/feed"],
)
def test_unusable_url_is_a_clean_failure(url: str) -> None:
    error = fetch_error(url)
    assert error.url == url
    assert error.reason


# -- conditional GET --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "etag",
    [
        '"plain"',
        'W/"x"',
        '"value with spaces"',
        'W/"a, b"',
        "unquoted token",
        '"caf\xe9"',  # a Latin-1 byte, as some servers send
        '"caf\xc3\xa9"',  # UTF-8 bytes, seen through the Latin-1 lens of the wire
    ],
)
def test_validators_are_sent_back_exactly_as_received(feed_server: FeedServer, etag: str) -> None:
    modified = "Wed, 21 Oct 2015 07:28:00 GMT"

    def handler(request: Request) -> Response:
        if request.header("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body=FEED, headers={"ETag": etag, "Last-Modified": modified})

    url = feed_server.route("/feed.xml", handler=handler)
    first = fetch(url)
    assert first.status == 200
    second = fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified and second.body is None
    sent = feed_server.requests[1]
    assert sent.header("If-None-Match") == etag
    assert sent.header("If-Modified-Since") == modified


@pytest.mark.parametrize(
    "loop_factory", [asyncio.SelectorEventLoop, aio.loop_factory()], ids=["asyncio", "program"]
)
def test_a_feed_then_its_304_on_either_event_loop(
    feed_server: FeedServer, loop_factory: Any
) -> None:
    # The program runs on uvloop where it is installed, else on asyncio's loop (monitor/aio.py):
    # the transport speaks to both the same way.
    body = FEED * 50

    def handler(request: Request) -> Response:
        if request.header("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(
            body=gzip.compress(body), headers={"ETag": '"v1"', "Content-Encoding": "gzip"}
        )

    url = feed_server.route("/feed.xml", handler=handler)

    async def twice() -> tuple[FetchResult, FetchResult]:
        async with Fetcher(SETTINGS) as fetcher:
            first = await fetcher.fetch(url)
            return first, await fetcher.fetch(url, etag=first.etag)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        first, second = runner.run(twice())
    assert first.status == 200 and first.body == body
    assert second.not_modified and second.body is None
    assert [r.status for r in feed_server.requests] == [200, 304]


# -- status codes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "phrase"), [(500, "Internal Server Error"), (404, "Not Found")])
def test_error_status_is_a_failure_naming_it(
    feed_server: FeedServer, status: int, phrase: str
) -> None:
    error = fetch_error(feed_server.route("/feed.xml", "oops", status=status))
    assert type(error) is FetchError
    assert error.status == status
    assert error.reason == f"HTTP {status} {phrase}"


def test_gone_is_its_own_error(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.route("/feed.xml", status=410))
    assert isinstance(error, FeedGone)
    assert error.status == 410


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_and_date(feed_server: FeedServer, status: int) -> None:
    error = fetch_error(feed_server.route("/s", status=status, headers={"Retry-After": "120"}))
    assert isinstance(error, RetryLater)
    assert error.status == status and error.retry_after == 120.0

    later = format_datetime(datetime.now(UTC) + timedelta(hours=2), usegmt=True)
    error = fetch_error(feed_server.route("/d", status=status, headers={"Retry-After": later}))
    assert isinstance(error, RetryLater)
    assert error.retry_after is not None
    assert 7200 - 60 <= error.retry_after <= 7200

    error = fetch_error(feed_server.route("/none", status=status))
    assert isinstance(error, RetryLater)
    assert error.retry_after is None


def test_parse_retry_after() -> None:
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after(" 7 ", now) == 7.0
    assert parse_retry_after("Sat, 01 Mar 2025 13:00:00 GMT", now) == 3600.0
    assert parse_retry_after("Sat, 01 Mar 2025 11:00:00 GMT", now) == 0.0  # past: no wait
    for junk in (None, "", "soon", "-5", "1.5e9"):
        assert parse_retry_after(junk, now) is None


# -- credentials in the URL ------------------------------------------------------------------


def with_userinfo(url: str, userinfo: str = "reader:s3cr%40t") -> str:
    return url.replace("http://", f"http://{userinfo}@", 1)


def test_credentials_in_the_url_are_sent_as_basic_auth(feed_server: FeedServer) -> None:
    url = feed_server.route("/private.xml", FEED)
    assert fetch(with_userinfo(url)).body == FEED
    (request,) = feed_server.requests
    assert request.header("Authorization") == "Basic cmVhZGVyOnMzY3JAdA=="  # reader:s3cr@t
    assert "s3cr" not in request.path


def test_credentials_follow_redirects_within_their_origin_only(feed_server: FeedServer) -> None:
    other = FeedServer().start()
    try:
        elsewhere = other.route("/copy.xml", FEED)
        feed_server.route("/old.xml", status=301, headers={"Location": "/moved.xml"})
        feed_server.route("/moved.xml", status=302, headers={"Location": elsewhere})
        result = fetch(with_userinfo(feed_server.url("/old.xml")))
        assert result.body == FEED
        sent = [r.header("Authorization") for r in feed_server.requests]
        assert sent == ["Basic cmVhZGVyOnMzY3JAdA=="] * 2
        (away,) = other.requests
        assert away.header("Authorization") is None
    finally:
        other.stop()


def test_a_failure_names_the_url_without_its_secrets(feed_server: FeedServer) -> None:
    url = feed_server.route("/feed.xml", status=404)
    error = fetch_error(with_userinfo(url) + "?token=PLANTED&page=2")
    assert "s3cr" not in str(error) and "PLANTED" not in str(error)
    assert "reader:***@" in str(error) and "token=***&page=2" in str(error)


# -- redirects --------------------------------------------------------------------------------


def test_redirect_loop_is_a_clear_failure(feed_server: FeedServer) -> None:
    feed_server.route("/a", status=302, headers={"Location": "/b"})
    feed_server.route("/b", status=302, headers={"Location": "/a"})
    error = fetch_error(feed_server.url("/a"))
    assert "redirect loop" in error.reason
    assert len(feed_server.requests) == 2


def test_too_many_redirects_is_a_clear_failure(feed_server: FeedServer) -> None:
    for i in range(10):
        feed_server.route(f"/r{i}", status=307, headers={"Location": f"/r{i + 1}"})
    feed_server.route("/r10", FEED)
    error = fetch_error(feed_server.url("/r0"))
    assert error.reason == "more than 3 redirects"
    assert [r.path for r in feed_server.requests] == ["/r0", "/r1", "/r2", "/r3"]
    # The same chain within the limit is followed to the end.
    result = fetch(feed_server.url("/r7"))
    assert result.body == FEED and result.url == feed_server.url("/r10")


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "FILE:///etc/passwd", "ftp://127.0.0.1/feed", "javascript://x/%0a1"],
)
def test_redirect_to_non_http_url_is_refused(feed_server: FeedServer, target: str) -> None:
    url = feed_server.route("/feed.xml", status=301, headers={"Location": target})
    error = fetch_error(url)
    assert f"refusing redirect to non-HTTP URL {target!r}" in error.reason


@pytest.mark.parametrize(
    "target",
    ["mailto:editor@example.com", "data:,hello", "http://127.0.0.1:99999/x", "http://[::1/x"],
)
def test_redirect_to_unusable_url_is_a_clean_failure(feed_server: FeedServer, target: str) -> None:
    url = feed_server.route("/feed.xml", status=302, headers={"Location": target})
    error = fetch_error(url)
    assert error.url == url
    assert "redirect" in error.reason or "location header" in error.reason
    assert len(feed_server.requests) == 1


def test_redirect_without_location(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.route("/feed.xml", status=302))
    assert error.reason == "redirect 302 without Location"


@pytest.mark.parametrize(
    ("codes", "permanent"),
    [
        ((301,), True),
        ((308,), True),
        ((301, 308), True),
        ((302,), False),
        ((307,), False),
        ((303,), False),
        ((301, 302), False),
        ((307, 301), False),
    ],
)
def test_permanent_url_only_when_every_hop_is_permanent(
    feed_server: FeedServer, codes: tuple[int, ...], permanent: bool
) -> None:
    for i, code in enumerate(codes):
        feed_server.route(f"/hop{i}", status=code, headers={"Location": f"/hop{i + 1}"})
    final = feed_server.route(f"/hop{len(codes)}", FEED)
    result = fetch(feed_server.url("/hop0"))
    assert result.body == FEED and result.url == final
    assert result.permanent_url == (final if permanent else None)


# -- bodies: encodings, caps, deadlines -------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", _raw_deflate),
        ("identity", lambda data: data),
        ("GZIP", gzip.compress),
    ],
)
def test_compressed_bodies_are_decoded(feed_server: FeedServer, coding: str, encode: Any) -> None:
    body = FEED * 50
    url = feed_server.route("/feed.xml", encode(body), headers={"Content-Encoding": coding})
    assert fetch(url).body == body


def test_body_exactly_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    exact = b"x" * CAP
    assert fetch(feed_server.route("/exact", exact)).body == exact
    assert fetch(feed_server.route("/gz", gzip.compress(exact), headers=_GZIP)).body == exact
    with pytest.raises(BodyTooLarge):
        fetch(feed_server.route("/over", exact + b"x"))
    with pytest.raises(BodyTooLarge):
        fetch(feed_server.route("/gzover", gzip.compress(exact + b"x"), headers=_GZIP))


_GZIP = {"Content-Encoding": "gzip"}


def test_declared_length_over_the_cap_is_refused(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.route("/huge", b"x" * (CAP * 16)))
    assert isinstance(error, BodyTooLarge)
    assert error.reason == f"Content-Length {CAP * 16} exceeds the cap"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_endless_body_is_cut_at_the_cap(feed_server: FeedServer, chunked: bool) -> None:
    url = feed_server.route(
        "/endless",
        handler=lambda _: Response(body=itertools.repeat(b"<item>" * 2000), chunked=chunked),
    )
    started = time.monotonic()
    error, peak = peak_memory(lambda: fetch(url))
    assert isinstance(error, BodyTooLarge), error
    assert error.reason == f"body larger than {CAP} bytes (cap)"
    assert time.monotonic() - started < 4  # the cap ended it, not the deadline
    assert peak < 4 * 1024 * 1024


def test_gzip_bomb_stops_at_the_cap(feed_server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < CAP  # small on the wire: Content-Length cannot catch it
    url = feed_server.route("/bomb", bomb, headers=_GZIP)
    error, peak = peak_memory(lambda: fetch(url))
    assert isinstance(error, BodyTooLarge), error
    assert error.reason == f"body larger than {CAP} bytes (cap)"
    assert peak < 4 * 1024 * 1024


def test_deflate_bomb_stops_at_the_cap(feed_server: FeedServer) -> None:
    bomb = _raw_deflate(b"\0" * (20 * 1024 * 1024))
    url = feed_server.route("/bomb", bomb, headers={"Content-Encoding": "deflate"})
    error, peak = peak_memory(lambda: fetch(url))
    assert isinstance(error, BodyTooLarge), error
    assert peak < 4 * 1024 * 1024


@pytest.mark.parametrize(
    "headers",
    [
        [("Content-Encoding", "gzip, gzip")],
        [("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")],
        [("Content-Encoding", "deflate, gzip")],
    ],
)
def test_stacked_content_encoding_is_refused(
    feed_server: FeedServer, headers: list[tuple[str, str]]
) -> None:
    body = gzip.compress(gzip.compress(FEED))
    error = fetch_error(feed_server.route("/feed.xml", body, headers=headers))
    assert error.reason.startswith("refusing stacked Content-Encoding")


def test_unknown_or_corrupt_content_encoding_fails_clearly(feed_server: FeedServer) -> None:
    error = fetch_error(feed_server.route("/br", b"\x1b\x00", headers={"Content-Encoding": "br"}))
    assert error.reason == "unsupported Content-Encoding 'br'"
    error = fetch_error(feed_server.route("/bad", b"not gzip at all", headers=_GZIP))
    assert error.reason.startswith("corrupt gzip body")


def test_trickling_server_is_cut_off_by_the_total_deadline(feed_server: FeedServer) -> None:
    # Each byte arrives well within the read timeout; the whole takes 1.6 s.
    head, tail = FEED[:-8], FEED[-8:]
    chunks = [head, *(tail[i : i + 1] for i in range(len(tail)))]
    url = feed_server.route("/slow", handler=lambda _: Response(body=chunks, delay=0.2))
    settings = replace(SETTINGS, timeout=1.0, read_timeout=2.0)
    started = time.monotonic()
    error = fetch_error(url, settings)
    elapsed = time.monotonic() - started
    assert error.reason == "timed out: no complete response within 1s"
    assert 0.9 <= elapsed < 2.0
    # Control: with a deadline long enough, the same trickle is a complete feed.
    assert fetch(url, replace(settings, timeout=10.0)).body == FEED


# -- file:// URLs (configured by the user) ----------------------------------------------------


def test_file_url_is_read_with_the_cap(tmp_path: Path) -> None:
    small = tmp_path / "feed.xml"
    small.write_bytes(FEED)
    result = fetch(small.as_uri())
    assert result.body == FEED
    again = fetch(small.as_uri(), last_modified=result.last_modified)
    assert again.not_modified
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * (CAP + 1))
    assert isinstance(fetch_error(big.as_uri()), BodyTooLarge)
    assert "cannot read file" in fetch_error((tmp_path / "missing.xml").as_uri()).reason
