"""Feeds fetched through a forward proxy: a real one on loopback (tests/proxyserver.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.config import FetchSettings, parse_config_text
from monitor.errors import ConfigError, FetchError
from monitor.fetch.fetcher import Fetcher, FetchResult, proxy_for
from monitor.redact import redact_text
from monitor.types import Feed
from tests.feedserver import FeedServer, TLSFeedServer, tls_feed_server
from tests.harness import PollHarness
from tests.proxyserver import ProxyServer

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title></channel></rss>'
SETTINGS = FetchSettings(timeout=5.0, connect_timeout=2.0, read_timeout=2.0)


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    server = ProxyServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def auth_proxy() -> Iterator[ProxyServer]:
    server = ProxyServer(credentials=("newsroom", "pr0xy-s3cret!")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tls_server() -> Iterator[tuple[TLSFeedServer, ssl.SSLContext]]:
    with tls_feed_server("127.0.0.1") as pair:
        yield pair


def fetch(
    url: str, settings: FetchSettings = SETTINGS, *, feed: Feed | None = None, **kwargs: Any
) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(settings, **kwargs) as fetcher:
            return await fetcher.fetch(url, feed=feed)

    return asyncio.run(run())


def test_plain_http_feed_goes_through_the_proxy(
    feed_server: FeedServer, proxy: ProxyServer
) -> None:
    url = feed_server.route("/feed.xml", FEED)
    result = fetch(url, replace(SETTINGS, proxy=proxy.url()))
    assert result.body == FEED
    (request,) = proxy.requests
    assert (request.method, request.target) == ("GET", url)  # absolute form
    assert "news-monitor" in (request.header("User-Agent") or "")
    assert len(feed_server.requests_to("/feed.xml")) == 1


def test_without_a_proxy_nothing_reaches_it(feed_server: FeedServer, proxy: ProxyServer) -> None:
    url = feed_server.route("/feed.xml", FEED)
    assert fetch(url).body == FEED
    assert proxy.requests == []


def test_https_feed_goes_through_a_connect_tunnel(
    tls_server: tuple[TLSFeedServer, ssl.SSLContext], proxy: ProxyServer
) -> None:
    server, client_context = tls_server
    url = server.route("/feed.xml", FEED)
    assert url.startswith("https://")
    result = fetch(url, replace(SETTINGS, proxy=proxy.url()), ssl_context=client_context)
    assert result.body == FEED
    (request,) = proxy.requests
    assert (request.method, request.target) == ("CONNECT", f"127.0.0.1:{server.port}")
    assert len(server.requests_to("/feed.xml")) == 1  # the server itself saw the GET


def test_a_feed_proxy_wins_over_the_global_one(
    feed_server: FeedServer, proxy: ProxyServer, auth_proxy: ProxyServer
) -> None:
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(url=url, name="x", proxy=proxy.url())
    assert fetch(url, replace(SETTINGS, proxy=auth_proxy.url()), feed=feed).body == FEED
    assert len(proxy.requests) == 1 and auth_proxy.requests == []


def test_proxy_credentials_come_from_the_environment_and_are_never_logged(
    feed_server: FeedServer,
    auth_proxy: ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "pr0xy-s3cret!"
    monkeypatch.setenv("NEWSROOM_PROXY", auth_proxy.url(f"newsroom:{secret.replace('!', '%21')}"))
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(url=url, name="x", proxy_env="NEWSROOM_PROXY")
    caplog.set_level(logging.DEBUG)
    assert fetch(url, feed=feed).body == FEED
    (request,) = auth_proxy.requests
    expected = base64.b64encode(f"newsroom:{secret}".encode()).decode()
    assert request.header("Proxy-Authorization") == f"Basic {expected}"
    # The credentials were for the proxy: the feed's server never sees them.
    (served,) = feed_server.requests_to("/feed.xml")
    assert served.header("Proxy-Authorization") is None
    assert secret not in caplog.text and "s3cret" not in caplog.text
    # Remembered: any text that would show the proxy's URL masks it.
    assert "s3cret" not in redact_text(f"via {auth_proxy.url(f'newsroom:{secret}')} failed")


def test_global_proxy_env_and_https_with_credentials(
    tls_server: tuple[TLSFeedServer, ssl.SSLContext],
    auth_proxy: ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, client_context = tls_server
    monkeypatch.setenv("CORP_PROXY", auth_proxy.url("newsroom:pr0xy-s3cret%21"))
    url = server.route("/feed.xml", FEED)
    settings = replace(SETTINGS, proxy_env="CORP_PROXY")
    assert fetch(url, settings, ssl_context=client_context).body == FEED
    (request,) = auth_proxy.requests
    assert request.method == "CONNECT" and request.header("Proxy-Authorization")


def test_refused_by_the_proxy_is_a_clean_failure_without_the_secret(
    tls_server: tuple[TLSFeedServer, ssl.SSLContext],
    auth_proxy: ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, client_context = tls_server
    monkeypatch.setenv("CORP_PROXY", auth_proxy.url("newsroom:wrong-passw0rd"))
    url = server.route("/feed.xml", FEED)
    with pytest.raises(FetchError) as caught:
        fetch(url, replace(SETTINGS, proxy_env="CORP_PROXY"), ssl_context=client_context)
    assert "407" in str(caught.value) and "wrong-passw0rd" not in str(caught.value)
    assert caught.value.transient
    assert server.requests == []


def test_an_unset_proxy_variable_fails_the_feed_not_the_poll(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_PROXY_VAR", raising=False)
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(url=url, name="x", proxy_env="NO_SUCH_PROXY_VAR")
    with pytest.raises(FetchError, match="NO_SUCH_PROXY_VAR"):
        fetch(url, feed=feed)
    assert feed_server.requests == []


def test_a_variable_that_is_not_a_proxy_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAD_PROXY", "socks-ish nonsense")
    with pytest.raises(ConfigError, match="BAD_PROXY"):
        proxy_for(replace(SETTINGS, proxy_env="BAD_PROXY"))


def test_proxy_env_wins_and_the_feed_falls_back_to_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("P1", "http://p1:3128")
    settings = replace(SETTINGS, proxy="http://global:3128")
    assert proxy_for(settings) == "http://global:3128"
    assert proxy_for(replace(settings, proxy_env="P1")) == "http://p1:3128"
    feed = Feed(url="http://x/", name="x")
    assert proxy_for(settings, feed) == "http://global:3128"
    assert proxy_for(settings, replace(feed, proxy="http://own:8080")) == "http://own:8080"
    assert proxy_for(settings, replace(feed, proxy="http://own:8080", proxy_env="P1")) == (
        "http://p1:3128"
    )
    assert proxy_for(SETTINGS, feed) is None


CONFIG = """
[fetch]
proxy = "http://proxy.corp:3128"

[[feeds]]
url = "https://example.org/rss"
proxy_env = "FEED_PROXY"

[[feeds]]
url = "https://example.net/rss"
proxy = "http://other:8080"
"""


def test_config_keys(tmp_path: Path) -> None:
    config = parse_config_text(CONFIG, tmp_path / "config.toml")
    assert config.fetch.proxy == "http://proxy.corp:3128" and config.fetch.proxy_env is None
    assert [(f.proxy, f.proxy_env) for f in config.feeds] == [
        (None, "FEED_PROXY"),
        ("http://other:8080", None),
    ]


@pytest.mark.parametrize(
    "value",
    [
        '"http://user:hunter22@proxy:3128"',  # a password belongs in proxy_env
        '"socks5://proxy:1080"',
        '"proxy:3128"',
        '"http://proxy:99999"',
        "3128",
    ],
)
def test_config_refuses_a_proxy_with_a_password_or_not_http(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(f"[fetch]\nproxy = {value}\n", tmp_path / "config.toml")
    assert "fetch.proxy" in str(caught.value)
    assert "hunter22" not in str(caught.value)


def test_a_poll_fetches_each_feed_through_its_proxy(
    tmp_path: Path,
    feed_server: FeedServer,
    proxy: ProxyServer,
    auth_proxy: ProxyServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DESK_PROXY", auth_proxy.url("newsroom:pr0xy-s3cret%21"))
    monkeypatch.delenv("UNSET_PROXY", raising=False)
    rss = FEED.replace(
        b"</channel>", b"<item><title>A</title><link>http://a/1</link></item></channel>"
    )
    feeds = [
        {"url": feed_server.route("/global.xml", rss), "name": "global"},
        {"url": feed_server.route("/desk.xml", rss), "name": "desk", "proxy_env": "DESK_PROXY"},
        {"url": feed_server.route("/unset.xml", rss), "name": "unset", "proxy_env": "UNSET_PROXY"},
    ]
    harness = PollHarness(tmp_path, feed_server, feeds=feeds, fetch={"proxy": proxy.url()})
    try:
        outcomes = harness.outcomes(harness.run_poll())
    finally:
        harness.close()
    assert outcomes["global"].status == "updated" and outcomes["desk"].status == "updated"
    assert [r.target for r in proxy.requests] == [feed_server.url("/global.xml")]
    assert [r.target for r in auth_proxy.requests] == [feed_server.url("/desk.xml")]
    assert outcomes["unset"].status == "failed"
    assert "UNSET_PROXY" in (outcomes["unset"].error or "")
    assert feed_server.requests_to("/unset.xml") == []
