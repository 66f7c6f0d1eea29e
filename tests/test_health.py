"""Feed health in words: the commands' word and the health notifier's messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerts.health import ERRORS_SHOWN, feed_health, feed_message, reload_message
from monitor.redact import redact_url
from monitor.types import FeedState

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
URL = "https://user:hunter2@news.example/feed.xml?token=s3cret"
NEW = FeedState(url=URL, name="News", fetch_url=URL)
WORKED = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("state", "word"),
    [
        (NEW, "new"),  # never polled
        (FeedState(url=URL, name="News", fetch_url=URL, last_polled=NOW), "new"),  # none worked
        (FeedState(url=URL, name="News", fetch_url=URL, error_count=1), "failing x1"),
        (
            FeedState(url=URL, name="News", fetch_url=URL, last_success=WORKED, error_count=3),
            "failing x3",
        ),
        (FeedState(url=URL, name="News", fetch_url=URL, last_success=WORKED), "ok"),
        # Retired says it all, whatever came before.
        (FeedState(url=URL, name="News", fetch_url=URL, gone=True, error_count=2), "gone"),
        (FeedState(url=URL, name="News", fetch_url=URL, gone=True, last_success=WORKED), "gone"),
    ],
)
def test_feed_health(state: FeedState, word: str) -> None:
    assert feed_health(state) == word


@pytest.mark.parametrize(
    ("change", "after", "title", "text"),
    [
        (
            "failing",
            6 * 3600.0,
            "feed failing: News",
            "The feed News <{shown}> has failed for more than 6 hours.",
        ),
        (
            "failing",
            5400.0,
            "feed failing: News",
            "The feed News <{shown}> has failed for more than 1.5 hours.",
        ),
        ("recovered", 6 * 3600.0, "feed recovered: News", "The feed News <{shown}> works again."),
    ],
)
def test_feed_messages(change: str, after: float, title: str, text: str) -> None:
    message = feed_message(URL, "News", change, NOW, after)
    text = text.format(shown=redact_url(URL))
    assert (message.title, message.text) == (title, text)
    assert message.payload == {"title": title, "text": text}


def test_feed_messages_leave_the_credentials_out() -> None:
    for change in ("failing", "recovered"):
        message = feed_message(URL, "News", change, NOW, 3600.0)
        assert "hunter2" not in message.text and "s3cret" not in message.text
        assert "news.example" in message.text


def test_the_same_change_at_the_same_time_is_one_message() -> None:
    once = feed_message(URL, "News", "failing", NOW, 3600.0)
    assert feed_message(URL, "News", "failing", NOW, 3600.0).id == once.id
    assert feed_message(URL, "News", "failing", NOW, 7200.0).id == once.id  # same news
    others = {
        feed_message(URL, "News", "recovered", NOW, 3600.0).id,
        feed_message(URL, "News", "failing", NOW + timedelta(seconds=1), 3600.0).id,
        feed_message(URL + "2", "News", "failing", NOW, 3600.0).id,
    }
    assert once.id not in others and len(others) == 3
    assert len(once.id) == 32


@pytest.mark.parametrize(
    ("errors", "told", "title"),
    [
        (["a"], set(), "reload failed: 1 error"),
        (["a", "b"], {"a"}, "reload failed: 2 errors"),  # counts them all, lists the new
        ([], {"a"}, "reload works again"),
        (["a"], {"a"}, None),  # told already
        ([], set(), None),  # nothing was wrong
        (["a"], {"a", "b"}, None),  # one fixed, one still there: no news
    ],
)
def test_reload_messages(errors: list[str], told: set[str], title: str | None) -> None:
    message = reload_message(errors, told, NOW)
    assert (message.title if message else None) == title


def test_a_reload_message_lists_only_the_new_errors_up_to_a_limit() -> None:
    errors = [f"rules/{n}.toml: bad" for n in range(ERRORS_SHOWN + 5)]
    message = reload_message(errors, {errors[0]}, NOW)
    assert message is not None
    assert errors[0] not in message.text.splitlines()
    assert errors[1] in message.text and errors[ERRORS_SHOWN] in message.text
    assert errors[ERRORS_SHOWN + 1] not in message.text
    assert message.text.endswith("\n... and 4 more errors")
    assert message.title == f"reload failed: {ERRORS_SHOWN + 5} errors"
    again = reload_message(errors, {errors[0]}, NOW)
    assert again is not None and again.id == message.id
