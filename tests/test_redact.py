"""What URLs and secrets look like wherever they are shown or logged."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from monitor.config.secrets import read_secret
from monitor.errors import FeedParseError, FetchError, NotifyError
from monitor.redact import redact_endpoint, redact_text, redact_url, remember_url
from monitor.service.logs import JsonFormatter, RedactingFormatter


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://example.org/feed.xml", "https://example.org/feed.xml"),
        ("https://example.org/news?page=2&q=rights", "https://example.org/news?page=2&q=rights"),
        (
            "https://news.example/2024/05/01/talks-resume",
            "https://news.example/2024/05/01/talks-resume",
        ),
        (
            "http://user:s3cr3t@127.0.0.1:8080/feed.xml?token=PLANTED&page=2",
            "http://user:***@127.0.0.1:8080/feed.xml?token=***&page=2",
        ),
        ("https://ghp1234abcd@git.example/feed.atom", "https://***@git.example/feed.atom"),
        (
            "https://x.example/f?api_key=A&Access-Token=B&sig=C&X-Amz-Signature=D&auth=E&n=1",
            "https://x.example/f?api_key=***&Access-Token=***&sig=***&X-Amz-Signature=***"
            "&auth=***&n=1",
        ),
        (
            "https://x.example/cb#access_token=abc&state=1",
            "https://x.example/cb#access_token=***&state=1",
        ),
        (
            "https://hooks.slack.com/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX",
            "https://hooks.slack.com/services/***",
        ),
        (
            "https://discord.com/api/webhooks/123456789012345678/abcDEF_ghi-JKL",
            "https://discord.com/api/webhooks/***",
        ),
        ("https://chat.example/hooks/abc?x=1", "https://chat.example/hooks/***?x=1"),
        (
            "https://api.telegram.org/bot123:ABC/sendMessage",
            "https://api.telegram.org/***/sendMessage",
        ),
        (
            "https://pod.example/feed/550e8400-e29b-41d4-a716-446655440000/rss",
            "https://pod.example/feed/***/rss",
        ),
        (
            "https://pod.example/p/a1b2c3d4e5f6a7b8c9d0/feed.xml",
            "https://pod.example/p/***/feed.xml",
        ),
        ("http://u:p@[broken/x?password=1", "http://u:***@[broken/x?password=***"),
        ("file:///srv/feeds/x.xml", "file:///srv/feeds/x.xml"),
    ],
)
def test_redact_url_keeps_urls_recognisable_without_their_secrets(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.org/news", "https://hooks.example.org/news"),
        ("https://hooks.example.org/news/Zq0tK", "https://hooks.example.org/news/***"),
        ("http://127.0.0.1:9000/hook?key=PLANTED", "http://127.0.0.1:9000/hook/***"),
        ("https://user:pw@hooks.example.org/", "https://hooks.example.org"),
        ("https://api.telegram.org/bot123:ABC/sendMessage", "https://api.telegram.org/***/***"),
    ],
)
def test_redact_endpoint_shows_a_notifier_url_up_to_its_first_segment(url: str, shown: str) -> None:
    assert redact_endpoint(url) == shown


def test_remembered_secrets_are_masked_in_any_text() -> None:
    remember_url("http://127.0.0.1:9/in/Rmb3r3dPathSegment?key=PLANTED_TOKEN")
    line = 'HTTP Request: POST http://127.0.0.1:9/in/Rmb3r3dPathSegment?key=PLANTED_TOKEN "200"'
    assert redact_text(line) == 'HTTP Request: POST http://127.0.0.1:9/in/*** "200"'
    # The path alone (as a server might echo it) is masked too.
    assert "Rmb3r3d" not in redact_text("404: no route /in/Rmb3r3dPathSegment?key=PLANTED_TOKEN")


def test_a_url_with_nothing_to_hide_is_not_remembered() -> None:
    remember_url("http://127.0.0.1:7/")
    line = "POST http://127.0.0.1:7/in/x and http://127.0.0.1:7/"
    assert redact_text(line) == line


def test_secrets_read_from_the_environment_are_remembered() -> None:
    value = read_secret("X_PASSWORD", key="k", environ={"X_PASSWORD": "hunter2-from-env"})
    assert value == "hunter2-from-env"
    assert redact_text("auth failed for hunter2-from-env") == "auth failed for ***"


def test_errors_name_urls_without_secrets() -> None:
    url = "https://reader:s3cr3t@feeds.example/private.xml?token=PLANTED"
    for error in (
        FetchError(url, f"redirect loop at {url}"),
        FeedParseError(url, "not a feed"),
        NotifyError("hook", f"POST {url}: HTTP 500"),
    ):
        assert "s3cr3t" not in str(error) and "PLANTED" not in str(error)
        assert "s3cr3t" not in error.reason and "PLANTED" not in error.reason
    assert FetchError(url, "x").url == url  # still the feed's identity


def test_log_lines_and_tracebacks_are_redacted() -> None:
    url = "https://reader:s3cr3t@feeds.example/x.xml?token=PLANTED"
    try:
        raise RuntimeError(f"cannot fetch {url}")
    except RuntimeError:
        record = logging.LogRecord(
            "httpx", logging.INFO, __file__, 1, "GET %s", (url,), exc_info=sys.exc_info()
        )
    for formatter in (RedactingFormatter("%(message)s"), JsonFormatter()):
        out = formatter.format(record)
        assert "s3cr3t" not in out and "PLANTED" not in out
        assert "feeds.example/x.xml" in out


def test_an_uncaught_exception_is_printed_redacted() -> None:
    script = (
        "import threading\n"
        "from monitor.service.logs import redact_uncaught\n"
        "redact_uncaught()\n"
        "url = 'https://reader:s3cr3t@feeds.example/x.xml?token=PLANTED'\n"
        "def boom():\n"
        "    raise RuntimeError('cannot fetch ' + url)\n"
        "t = threading.Thread(target=boom)\n"
        "t.start(); t.join()\n"
        "boom()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr.count("RuntimeError: cannot fetch https://reader:***@feeds.example") == 2
    assert "s3cr3t" not in done.stderr and "PLANTED" not in done.stderr
