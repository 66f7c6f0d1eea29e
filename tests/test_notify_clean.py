"""Every channel sends the same cleaned, size-capped text: one hostile story through each.

The channels are real: email through an aiosmtpd server, webhooks (JSON, Slack,
Discord) to a loopback receiver that checks signatures, the console to a stream,
Apprise to a loopback JSON receiver.
"""

from __future__ import annotations

import importlib.util
import io
import json
import threading
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import AppriseSettings, WebhookSettings
from monitor.notify.clean import LIMITS, MESSAGE_CHARS, TRUNCATED, clean_message
from monitor.notify.console import ConsoleNotifier
from monitor.notify.email import EmailNotifier
from monitor.notify.message import AlertItem, Message
from monitor.notify.webhook import WebhookNotifier
from monitor.types import TermHit
from tests.servers import SECRET, Receiver, smtp_server
from tests.test_notify_email import Recorder, email_settings, parse, parts
from tests.test_render import alert, hostile_messages, item

MB_HEADLINE = (
    "Rights\r\nBcc: victim@example.org\u202etxt.exe\u202c talks\x00\x1b[31m " + "H" * 1_000_000
)
HOSTILE = item(
    headline=MB_HEADLINE,
    snippet="Officials\u2028said \u202ethe human rights\x07 dialogue" + " more" * 300_000,
    snippet_terms=((20, 32),),
    terms=(TermHit(term="human rights", field="body", span=(3, 15)),),
    sources=("Wire\u202e\r\nX-Injected: 1", "Daily\x85Planet"),
    url="https://reader:pw-in-link@news.example.org/story?id=7",
    why='matched "human rights"\r\nX-Injected: yes',
)
FORBIDDEN = ("\u202e", "\u202c", "\x00", "\x1b", "\x07", "\x85", "\u2028", "pw-in-link")


def assert_clean(text: str, *, limit: int) -> None:
    for bad in FORBIDDEN:
        assert bad not in text, repr(bad)
    assert "\r" not in text
    assert len(text) < limit, len(text)


def hostile_alert() -> Message:
    return alert(HOSTILE, topic="china-rights\r\nX-Evil: 1\u202e")


# -- the cleaning itself ---------------------------------------------------------------------


def test_fields_are_cleaned_capped_and_marked() -> None:
    cleaned = clean_message(hostile_alert())
    (story,) = cleaned.items
    # Line breaks and controls are spaces; format characters (the bidi override) go.
    assert story.headline.startswith("Rights Bcc: victim@example.orgtxt.exe talks [31m H")
    assert story.headline.endswith(TRUNCATED) and len(story.headline) <= LIMITS["headline"]
    assert story.snippet.endswith(TRUNCATED) and len(story.snippet) <= LIMITS["snippet"]
    assert story.sources == ("Wire X-Injected: 1", "Daily Planet")
    assert story.url == "https://news.example.org/story?id=7"
    assert story.why == 'matched "human rights" X-Injected: yes'
    assert cleaned.topic == "china-rights X-Evil: 1"
    # The highlight moved with the text: two characters before it went.
    ((start, end),) = story.snippet_terms
    assert story.snippet[start:end] == "human rights"


def test_cleaning_twice_changes_nothing() -> None:
    once = clean_message(hostile_alert())
    assert clean_message(once) == once


@settings(max_examples=200, deadline=None)
@given(hostile_messages())
def test_cleaning_is_idempotent_and_keeps_spans_inside(message: Message) -> None:
    once = clean_message(message)
    assert clean_message(once) == once
    for story in once.items:
        for start, end in story.snippet_terms:
            assert 0 <= start < end <= len(story.snippet)


def test_title_spans_follow_the_cleaned_headline() -> None:
    story = item(
        headline="\u202e\u202eU.S.\x00  and China \u200bresume human rights talks",
        terms=(TermHit(term="human rights", field="title", span=(27, 39)),),
    )
    assert story.headline[27:39] == "human rights"
    (cleaned,) = clean_message(alert(story)).items
    (hit,) = cleaned.terms
    assert cleaned.headline[hit.span[0] : hit.span[1]] == "human rights"


def test_a_digest_over_the_message_cap_counts_what_it_leaves_out() -> None:
    stories = tuple(replace(HOSTILE, story_id=f"{n:016x}") for n in range(400))
    digest = Message(id="d1", kind="digest", topic="t", items=stories, created=HOSTILE.published)
    cleaned = clean_message(digest)
    assert 0 < len(cleaned.items) < 400
    assert cleaned.omitted == 400 - len(cleaned.items)
    assert cleaned.subject == "[t] 400 new stories"
    size = sum(len(s.headline) + len(s.snippet) + len(s.why) for s in cleaned.items)
    assert size <= MESSAGE_CHARS


# -- every channel ---------------------------------------------------------------------------


def test_email() -> None:
    recorder = Recorder()
    with smtp_server(recorder) as port:
        EmailNotifier(email_settings(port), password=None).send(hostile_alert())
    (raw,) = recorder.messages
    assert len(raw) < 64_000
    mail = parse(raw)
    assert mail["Bcc"] is None and mail["X-Injected"] is None and mail["X-Evil"] is None
    text, page = parts(mail)
    for shown in (str(mail["Subject"]), str(mail["X-News-Monitor-Topic"]), text, page):
        assert_clean(shown.replace("\r\n", "\n"), limit=64_000)  # CRLF: SMTP's line ends
    assert TRUNCATED in text


@pytest.mark.parametrize("fmt", ["json", "slack", "discord"])
def test_webhooks(fmt: Any) -> None:
    receiver = Receiver()
    try:
        settings = WebhookSettings(name="hook", url=receiver.url, format=fmt, timeout=5.0)
        with WebhookNotifier(settings, url=receiver.url, secret=SECRET) as hook:
            hook.send(hostile_alert())
        (payload,) = receiver.deliveries
    finally:
        receiver.stop()
    wire = json.dumps(payload, ensure_ascii=False)
    assert_clean(wire, limit=16_000)  # 2 MB before
    for ch in wire:
        assert unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"), repr(ch)
    if fmt == "json":
        (story,) = payload["items"]
        assert story["headline"].endswith(TRUNCATED)
        assert story["url"] == "https://news.example.org/story?id=7"


def test_console() -> None:
    stream = io.StringIO()
    ConsoleNotifier("console", stream).send(hostile_alert())
    out = stream.getvalue()
    assert_clean(out, limit=8_000)
    assert out.count("\n") < 30  # no line of the story broke into more


class _Collector:
    """A loopback HTTP server keeping the body of every POST."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.mark.skipif(importlib.util.find_spec("apprise") is None, reason="apprise not installed")
def test_apprise(collector: _Collector) -> None:
    from monitor.notify.apprise_notifier import AppriseNotifier

    settings = AppriseSettings(name="ap", url_env="AP_URL")
    target = AppriseNotifier(settings, url=f"json://127.0.0.1:{collector.port}/ap")
    try:
        target.send(hostile_alert())
    finally:
        target.close()
    (body,) = collector.bodies
    payload = json.loads(body)
    assert_clean(payload["title"], limit=300)
    assert_clean(payload["message"], limit=8_000)


def test_every_channel_shows_the_same_headline(collector: _Collector) -> None:
    """The same cleaning: the headline each channel shows starts the same way."""
    expected = clean_message(hostile_alert()).items[0].headline[:60]
    stream = io.StringIO()
    ConsoleNotifier("console", stream).send(hostile_alert())
    assert expected in stream.getvalue()
    receiver = Receiver()
    try:
        settings = WebhookSettings(name="hook", url=receiver.url, timeout=5.0)
        with WebhookNotifier(settings, url=receiver.url, secret=SECRET) as hook:
            hook.send(hostile_alert())
    finally:
        receiver.stop()
    assert receiver.deliveries[0]["items"][0]["headline"].startswith(expected)
    recorder = Recorder()
    with smtp_server(recorder) as port:
        EmailNotifier(email_settings(port), password=None).send(hostile_alert())
    text, _ = parts(parse(recorder.messages[0]))
    assert expected in text


def test_a_story_item_type_is_unchanged_by_cleaning() -> None:
    assert isinstance(clean_message(hostile_alert()).items[0], AlertItem)


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=0, max_size=50))
def test_a_test_message_keeps_its_lines(line: str) -> None:
    message = Message(
        id="t", kind="test", topic="", created=HOSTILE.published, text=f"one\r\ntwo\u2028{line}"
    )
    text = clean_message(message).text
    assert text.startswith("one\ntwo")
    assert "\r" not in text and "\u2028" not in text
