"""Per-feed request options: headers, User-Agent, Basic authentication, a URL from the
environment; read from config.toml, sent by the fetcher to a loopback server."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.config import FetchSettings, parse_config_text
from monitor.errors import ConfigError, FetchError
from monitor.fetch.fetcher import Fetcher, FetchResult
from monitor.redact import redact_text
from monitor.types import Feed
from tests.feedserver import FeedServer
from tests.harness import PollHarness

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>A story</title><link>http://a.example/1</link></item></channel></rss>"
)
SETTINGS = FetchSettings(timeout=5.0, connect_timeout=2.0, read_timeout=2.0)


@pytest.fixture
def other_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


def fetch(url: str, feed: Feed | None = None) -> FetchResult:
    async def run() -> FetchResult:
        async with Fetcher(SETTINGS) as fetcher:
            return await fetcher.fetch(url, feed=feed)

    return asyncio.run(run())


def load(tmp_path: Path, feeds: str) -> Any:
    return parse_config_text(feeds, tmp_path / "config.toml")


def errors(tmp_path: Path, feeds: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, feeds)
    return str(caught.value)


# -- config -------------------------------------------------------------------------------------


def test_feed_keys_are_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
[[feeds]]
url = "https://example.org/rss"
user_agent = "Desk/1.0"
username = "desk"
password_env = "DESK_PASSWORD"
headers = { "Accept-Language" = "de", "X-Api-Key" = { env = "DESK_KEY" } }

[[feeds]]
url_env = "WIRE_URL"
""",
    )
    first, second = config.feeds
    assert first.user_agent == "Desk/1.0"
    assert (first.username, first.password_env) == ("desk", "DESK_PASSWORD")
    assert first.headers == (("Accept-Language", "de"),)
    assert first.env_headers == (("X-Api-Key", "DESK_KEY"),)
    assert (second.url, second.name, second.url_env) == ("env:WIRE_URL", "WIRE_URL", "WIRE_URL")


@pytest.mark.parametrize(
    ("feed", "message"),
    [
        ('password = "hunter22"', "feeds[0] (https://example.org/rss).password: secrets are not"),
        ('token = "hunter22"', "token: secrets are not read from the config file"),
        (
            'headers = { Authorization = "Bearer hunter22" }',
            'headers.Authorization: secrets are not read from the config file; write { env = "',
        ),
        ('headers = { "X-Api-Token" = "hunter22" }', "headers.X-Api-Token: secrets are not"),
        ('headers = { Host = "evil.example" }', "headers.Host: not a header name a feed may set"),
        ('headers = { "Bad Name" = "x" }', "not a header name"),
        ('headers = { "X-Thing" = "a\\r\\nX-Injected: 1" }', "headers.X-Thing: expected a string"),
        ('headers = "X-Thing: 1"', "headers: expected a table of header names"),
        ('username = "desk"', "expected both username and password_env, or neither"),
        ('password_env = "P"', "expected both username and password_env, or neither"),
        ('url_env = "WIRE_URL"', "expected exactly one of url and url_env"),
        ('url_env = "not a name"', "url_env: expected the name of an environment variable"),
    ],
)
def test_feed_keys_are_checked(tmp_path: Path, feed: str, message: str) -> None:
    text = errors(tmp_path, f'[[feeds]]\nurl = "https://example.org/rss"\n{feed}\n')
    assert message in text
    assert "hunter22" not in text


def test_credentials_in_the_url_and_a_username_are_one_too_many(tmp_path: Path) -> None:
    text = errors(
        tmp_path,
        '[[feeds]]\nurl = "https://u:p@example.org/rss"\nusername = "u"\npassword_env = "P"\n',
    )
    assert "the url has credentials of its own" in text


def test_two_feeds_from_the_same_variable_are_duplicates(tmp_path: Path) -> None:
    text = errors(tmp_path, '[[feeds]]\nurl_env = "W"\n[[feeds]]\nurl_env = "W"\n')
    assert "duplicate" in text


# -- the fetcher --------------------------------------------------------------------------------


def test_headers_and_user_agent_are_sent(feed_server: FeedServer) -> None:
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(
        url=url,
        name="x",
        user_agent="Desk/1.0",
        headers=(("Accept-Language", "de"), ("Accept", "application/rss+xml")),
    )
    assert fetch(url, feed).body == FEED
    (request,) = feed_server.requests
    assert request.header_all("User-Agent") == ["Desk/1.0"]
    assert request.header("Accept-Language") == "de"
    assert request.header_all("Accept") == ["application/rss+xml"]  # replaces the default */*
    assert request.header("Authorization") is None


def test_basic_auth_from_the_environment(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DESK_PASSWORD", "s3cr3t-pw:x")
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(url=url, name="x", username="desk", password_env="DESK_PASSWORD")
    caplog.set_level(logging.DEBUG)
    assert fetch(url, feed).body == FEED
    (request,) = feed_server.requests
    expected = base64.b64encode(b"desk:s3cr3t-pw:x").decode()
    assert request.header("Authorization") == f"Basic {expected}"
    assert "s3cr3t-pw" not in caplog.text


def test_secrets_go_to_the_feed_origin_only_plain_headers_everywhere(
    feed_server: FeedServer, other_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_PASSWORD", "pw-123456")
    monkeypatch.setenv("DESK_KEY", "key-abcdef")
    target = other_server.route("/feed.xml", FEED)
    url = feed_server.route("/feed.xml", status=302, headers={"Location": target})
    feed = Feed(
        url=url,
        name="x",
        username="desk",
        password_env="DESK_PASSWORD",
        headers=(("Accept-Language", "de"),),
        env_headers=(("X-Api-Key", "DESK_KEY"),),
    )
    assert fetch(url, feed).body == FEED
    (first,) = feed_server.requests
    assert first.header("X-Api-Key") == "key-abcdef" and first.header("Authorization")
    (second,) = other_server.requests
    assert second.header("X-Api-Key") is None and second.header("Authorization") is None
    assert second.header("Accept-Language") == "de"
    assert "key-abcdef" not in redact_text("sent key-abcdef")


def test_an_unset_variable_fails_the_feed_before_any_request(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_PASSWORD", raising=False)
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(url=url, name="x", username="desk", password_env="NO_SUCH_PASSWORD")
    with pytest.raises(FetchError, match="NO_SUCH_PASSWORD"):
        fetch(url, feed)
    assert feed_server.requests == []


def test_url_env_is_read_and_checked(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = feed_server.route("/feed.xml", FEED)
    feed = Feed(url="env:WIRE_URL", name="wire", url_env="WIRE_URL")
    monkeypatch.setenv("WIRE_URL", url + "?token=abcdef0123456789")
    result = fetch(feed.url, feed)
    assert result.body == FEED and result.url == url + "?token=abcdef0123456789"
    assert "abcdef0123456789" not in redact_text(f"fetched {result.url}")
    monkeypatch.setenv("WIRE_URL", "ftp://wire.invalid/not-http-7f3a")  # remembered: unique
    with pytest.raises(FetchError, match="WIRE_URL does not hold an http"):
        fetch(feed.url, feed)


# -- a poll -------------------------------------------------------------------------------------


def test_a_feed_from_url_env_keeps_its_identity_when_the_token_rotates(
    tmp_path: Path, feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.route("/wire.xml", FEED)
    monkeypatch.setenv("WIRE_URL", feed_server.url("/wire.xml?token=first0123456789abc"))
    harness = PollHarness(
        tmp_path, feed_server, feeds=[{"url_env": "WIRE_URL", "name": "wire"}], fetch={}
    )
    try:
        outcomes = harness.outcomes(harness.run_poll())
        assert outcomes["wire"].status == "updated", outcomes
        assert outcomes["wire"].url == "env:WIRE_URL"
        monkeypatch.setenv("WIRE_URL", feed_server.url("/wire.xml?token=second0123456789ab"))
        harness.outcomes(harness.run_poll())
        state = harness.state("wire")
        assert state.url == state.fetch_url == "env:WIRE_URL"
        assert state.error_count == 0
        assert [s.headline for s in harness.stories("wire")] == ["A story"]
    finally:
        harness.close()
    assert [r.path for r in feed_server.requests_to("/wire.xml")] == [
        "/wire.xml?token=first0123456789abc",
        "/wire.xml?token=second0123456789ab",
    ]
