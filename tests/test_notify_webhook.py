"""Webhook and Apprise notifiers against a real HTTP receiver on loopback.

The receiver checks every Standard Webhooks signature with its own HMAC code
(written here, not imported), so a signing bug cannot hide behind itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import importlib.util
import json
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config import AppriseSettings, WebhookSettings
from monitor.errors import ConfigError, NotifierGone, NotifyError, PermanentFailure
from monitor.notify.message import AlertItem, Message
from monitor.notify.payload import (
    DISCORD_CONTENT,
    DISCORD_DESCRIPTION,
    DISCORD_EMBED_TOTAL,
    DISCORD_EMBEDS,
    DISCORD_FIELD_VALUE,
    DISCORD_TITLE,
    SLACK_BLOCKS,
    SLACK_HEADER,
    SLACK_TEXT,
    discord_payload,
    encode,
    json_payload,
    slack_payload,
)
from monitor.notify.render import render_text
from monitor.notify.webhook import WebhookNotifier, secret_key, sign
from monitor.types import TermHit
from tests.servers import free_port

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
TOKEN = "SECRETTOKEN42xyz"
HEADLINE = "U.S. and China resume human rights dialogue"


# -- an independent Standard Webhooks verifier ------------------------------------------------


def verify(secret: str, headers: dict[str, str], body: bytes, now: int) -> bool:
    """Standard Webhooks verification, written from the spec: HMAC over id.timestamp.body."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit() or abs(now - int(stamp)) > 300:
        return False
    mac = hmac.new(key, msg_id.encode() + b"." + stamp.encode() + b"." + body, hashlib.sha256)
    expected = base64.b64encode(mac.digest())
    for candidate in headers.get("webhook-signature", "").split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


# -- a loopback receiver ----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        ok = verify(SECRET, headers, body, int(NOW.timestamp()))
        path = self.path.split("?", 1)[0]
        with receiver.lock:
            receiver.log.append(Received(self.command, self.path, headers, body, ok))
            reply = receiver.routes.get(path, Reply(status=404, body=b"no such hook"))
        if reply.delay:
            time.sleep(reply.delay)
        self.send_response_only(reply.status)
        if "Date" not in reply.headers:
            self.send_header("Date", self.date_time_string())
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


class Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: list[Received] = []
        self.routes: dict[str, Reply] = {}
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.receiver = self
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.log if r.path.split("?", 1)[0] == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.httpd.shutdown()
        r.httpd.server_close()


def notifier(
    url: str,
    *,
    fmt: str = "json",
    secret: str | None = SECRET,
    timeout: float = 5.0,
) -> WebhookNotifier:
    settings = WebhookSettings(name="hook", url=url, format=fmt, timeout=timeout)  # type: ignore[arg-type]
    return WebhookNotifier(settings, url=url, secret=secret, clock=lambda: NOW)


# -- messages ---------------------------------------------------------------------------------

BODY_TEXT = "Officials met in Geneva. The talks on human rights were tied to MFN trade status."


def item(**changes: Any) -> AlertItem:
    snippet = BODY_TEXT
    values: dict[str, Any] = {
        "story_id": "568a0349c4f27a7a",
        "topic": "china-rights",
        "headline": HEADLINE,
        "url": "https://news.example.org/story?id=1&src=rss",
        "sources": ("Example Wire", "Daily Planet", "Globe"),
        "published": datetime(2002, 11, 4, 9, 30, tzinfo=UTC),
        "snippet": snippet,
        "snippet_terms": ((snippet.index("human rights"), snippet.index("human rights") + 12),),
        "terms": (
            TermHit(term="human rights", field="title", span=(22, 34)),
            TermHit(term="mfn", field="body", span=(64, 67)),
        ),
        "why": 'matched "human rights", MFN',
    }
    values.update(changes)
    return AlertItem(**values)


def alert(msg_id: str = "alert-0001", **changes: Any) -> Message:
    return Message(
        id=msg_id, kind="alert", topic="china-rights", items=(item(**changes),), created=NOW
    )


# -- signing ----------------------------------------------------------------------------------


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("bad", ["whsec_not base64 xyzzy!", "whsec_", "whsec_@@xyzzy@@", "   "])
def test_a_malformed_secret_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        notifier("http://127.0.0.1:9/hook", secret=bad)
    assert "secret_env" in str(caught.value)
    assert "xyzzy" not in str(caught.value)


def test_a_url_that_is_not_http_is_refused_without_its_token() -> None:
    url = f"ftp://hooks.example.org/services/T000/B000/{TOKEN}"
    with pytest.raises(ConfigError) as caught:
        notifier(url)
    assert TOKEN not in str(caught.value)


# -- delivery ---------------------------------------------------------------------------------


def test_json_v1_alert_arrives_signed_with_every_field(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply(status=204, body=b"")
    with notifier(receiver.url("/hook")) as hook:
        hook.send(alert())
    (got,) = receiver.requests("/hook")
    assert got.verified
    assert got.method == "POST"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == "alert-0001"
    assert got.headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert got.headers["user-agent"].startswith("news-monitor/")
    assert got.headers["accept-encoding"] == "identity"
    payload = got.json()
    assert payload == {
        "version": 1,
        "type": "alert",
        "id": "alert-0001",
        "topic": "china-rights",
        "topics": ["china-rights"],
        "created": "2024-05-01T12:00:00Z",
        "title": f"[china-rights] {HEADLINE}",
        "text": render_text(alert()),
        "items": [
            {
                "story_id": "568a0349c4f27a7a",
                "headline": HEADLINE,
                "url": "https://news.example.org/story?id=1&src=rss",
                "sources": ["Example Wire", "Daily Planet", "Globe"],
                "also_reported_by": ["Daily Planet", "Globe"],
                "published": "2002-11-04T09:30:00Z",
                "snippet": BODY_TEXT,
                "snippet_spans": [[38, 50]],
                "why": 'matched "human rights", MFN',
                "terms": [
                    {"term": "human rights", "field": "title", "span": [22, 34]},
                    {"term": "mfn", "field": "body", "span": [64, 67]},
                ],
            }
        ],
        "omitted": 0,
    }
    assert HEADLINE in payload["text"] and 'matched "human rights", MFN' in payload["text"]
    first = payload["items"][0]
    assert first["headline"][22:34] == "human rights"
    assert BODY_TEXT[64:67] == "MFN"  # the body here is the snippet
    start, end = first["snippet_spans"][0]
    assert first["snippet"][start:end] == "human rights"


def test_the_signed_bytes_are_the_bytes_sent(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply()
    with notifier(receiver.url("/hook")) as hook:
        hook.send(alert(headline="Über «rights» \u2028 talks & <b>"))
    (got,) = receiver.requests("/hook")
    assert got.verified
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    assert not verify(SECRET, got.headers, got.body + b" ", int(NOW.timestamp()))
    assert not verify(
        "whsec_" + base64.b64encode(key[::-1]).decode(), got.headers, got.body, int(NOW.timestamp())
    )
    # cleaned as for every channel: the line separator is a space, and spaces collapse
    assert got.json()["items"][0]["headline"] == "Über «rights» talks & <b>"


def test_the_same_message_keeps_its_id_on_a_retry(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply(status=500)
    with notifier(receiver.url("/hook")) as hook:
        with pytest.raises(NotifyError):
            hook.send(alert("outbox-7"))
        receiver.routes["/hook"] = Reply(status=200)
        hook.send(alert("outbox-7"))
    ids = [r.headers["webhook-id"] for r in receiver.requests("/hook")]
    assert ids == ["outbox-7", "outbox-7"]


def test_without_a_secret_nothing_is_signed(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply()
    with notifier(receiver.url("/hook"), secret=None) as hook:
        hook.send(alert())
    (got,) = receiver.requests("/hook")
    assert "webhook-signature" not in got.headers
    assert got.headers["webhook-id"] == "alert-0001"


def test_slack_shape_escapes_and_links_only_http(receiver: Receiver) -> None:
    receiver.routes["/services/T000/B000/" + TOKEN] = Reply()
    url = receiver.url("/services/T000/B000/" + TOKEN)
    with notifier(url, fmt="slack") as hook:
        hook.send(alert(headline="Rights & trade <script>alert(1)</script> <!everyone>"))
        hook.send(alert("alert-2", url="javascript:alert(document.cookie)"))
    first, second = (r.json() for r in receiver.requests("/services/T000/B000/" + TOKEN))
    assert set(first) == {"text", "blocks"}
    section = first["blocks"][1]["text"]
    assert section["type"] == "mrkdwn"
    assert section["verbatim"] is True
    assert (
        "Rights &amp; trade &lt;script&gt;alert(1)&lt;/script&gt; &lt;!everyone&gt;"
        in (section["text"])
    )
    assert "<https://news.example.org/story?id=1&amp;src=rss|" in section["text"]
    assert "*human rights*" in section["text"]
    assert "<script>" not in json.dumps(first) and "<!everyone>" not in json.dumps(first)
    assert first["text"].startswith("[china-rights] Rights &amp; trade &lt;script&gt;")
    assert first["blocks"][0]["text"]["type"] == "plain_text"
    assert first["blocks"][0]["text"]["text"].startswith("[china-rights] Rights &amp; trade")
    text = second["blocks"][1]["text"]["text"]
    assert "<" not in text and "javascript" not in text


def test_discord_shape_with_no_mentions_and_limits(receiver: Receiver) -> None:
    receiver.routes["/api/webhooks/1/" + TOKEN] = Reply(status=204, body=b"")
    url = receiver.url("/api/webhooks/1/" + TOKEN)
    with notifier(url, fmt="discord") as hook:
        hook.send(alert(headline="@everyone " + "x" * 10_000, why="[click](javascript:alert(1))"))
        hook.send(alert("alert-2", url="JaVaScRiPt:alert(1)"))
    first, second = (r.json() for r in receiver.requests("/api/webhooks/1/" + TOKEN))
    assert first["allowed_mentions"] == {"parse": []}
    (embed,) = first["embeds"]
    assert embed["title"].startswith("@everyone xxx") and len(embed["title"]) <= DISCORD_TITLE
    assert embed["title"].endswith("…")
    assert embed["url"] == "https://news.example.org/story?id=1&src=rss"
    assert embed["timestamp"] == "2002-11-04T09:30:00Z"
    assert "**human rights**" in embed["description"]
    assert "\\[click\\]\\(javascript\\:alert\\(1\\)\\)" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {
        "Topic": "china-rights",
        "Source": "Example Wire",
        "Also reported by": "Daily Planet, Globe",
    }
    assert "url" not in second["embeds"][0]
    assert second["allowed_mentions"] == {"parse": []}


def test_a_digest_respects_block_and_embed_counts() -> None:
    items = tuple(item(story_id=f"{i:016x}", headline=f"Story {i}") for i in range(60))
    digest = Message(id="d-1", kind="digest", topic="china-rights", items=items, created=NOW)
    slack = slack_payload(digest)
    assert len(slack["blocks"]) <= SLACK_BLOCKS
    assert "more" in slack["blocks"][-1]["elements"][0]["text"]
    discord = discord_payload(digest)
    assert len(discord["embeds"]) == DISCORD_EMBEDS
    assert discord["content"].endswith("... and 50 more")
    assert json_payload(digest)["items"][59]["headline"] == "Story 59"


def test_a_test_message_has_title_and_text() -> None:
    msg = Message(id="t-1", kind="test", topic="", created=NOW, title="Test", text="a\r\nb")
    assert json_payload(msg)["type"] == "test"
    assert json_payload(msg)["text"] == "a\nb"  # one kind of line break, as everywhere
    assert discord_payload(msg)["content"] == "**Test**\na\nb"
    assert slack_payload(msg)["blocks"][1]["text"]["text"] == "a\nb"


# -- outcomes ---------------------------------------------------------------------------------


def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply(status=302, headers={"Location": receiver.url("/second")})
    receiver.routes["/second"] = Reply()
    with notifier(receiver.url("/hook")) as hook, pytest.raises(NotifyError) as caught:
        hook.send(alert())
    assert type(caught.value) is NotifyError
    assert "redirects are not followed" in str(caught.value)
    assert len(receiver.requests("/hook")) == 1
    assert receiver.requests("/second") == []


def test_410_gone_disables_the_notifier(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply(status=410, body=b"hook removed")
    with notifier(receiver.url("/hook")) as hook, pytest.raises(NotifierGone) as caught:
        hook.send(alert())
    assert "410" in str(caught.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_in_seconds(receiver: Receiver, status: int) -> None:
    receiver.routes["/hook"] = Reply(status=status, headers={"Retry-After": "120"})
    with notifier(receiver.url("/hook")) as hook, pytest.raises(NotifyError) as caught:
        hook.send(alert())
    assert not isinstance(caught.value, PermanentFailure)
    assert caught.value.retry_after == 120.0


def test_retry_after_as_an_http_date_on_the_receivers_clock(receiver: Receiver) -> None:
    server_now = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)  # a clock far from ours
    receiver.routes["/hook"] = Reply(
        status=429,
        headers={
            "Date": format_datetime(server_now, usegmt=True),
            "Retry-After": format_datetime(server_now + timedelta(minutes=5), usegmt=True),
        },
    )
    with notifier(receiver.url("/hook")) as hook, pytest.raises(NotifyError) as caught:
        hook.send(alert())
    assert caught.value.retry_after == 300.0


@pytest.mark.parametrize("status", [500, 502, 408, 425])
def test_server_errors_are_retried(receiver: Receiver, status: int) -> None:
    receiver.routes["/hook"] = Reply(status=status, body=b"oops")
    with notifier(receiver.url("/hook")) as hook, pytest.raises(NotifyError) as caught:
        hook.send(alert())
    assert type(caught.value) is NotifyError
    assert f"HTTP {status}" in str(caught.value)
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_other_client_errors_are_permanent(receiver: Receiver, status: int) -> None:
    receiver.routes["/hook"] = Reply(status=status, body=b'{"message": "invalid_payload"}')
    with notifier(receiver.url("/hook")) as hook, pytest.raises(PermanentFailure) as caught:
        hook.send(alert())
    assert "invalid_payload" in str(caught.value)


def test_a_dead_port_is_a_retryable_error_without_the_token() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T000/B000/{TOKEN}"
    with notifier(url, fmt="slack") as hook, pytest.raises(NotifyError) as caught:
        hook.send(alert())
    assert type(caught.value) is NotifyError
    assert TOKEN not in str(caught.value)
    assert TOKEN not in str(caught.value.__cause__)
    assert "/services/***" in str(caught.value)


def test_a_timeout_is_a_retryable_error(receiver: Receiver) -> None:
    receiver.routes["/hook"] = Reply(delay=1.5)
    with (
        notifier(receiver.url("/hook"), timeout=0.3) as hook,
        pytest.raises(NotifyError) as caught,
    ):
        hook.send(alert())
    assert "timed out" in str(caught.value)


@pytest.mark.parametrize("status", [302, 400, 410, 429, 500])
def test_the_url_token_never_appears_in_errors(receiver: Receiver, status: int) -> None:
    path = f"/services/T000/B000/{TOKEN}"
    receiver.routes[path] = Reply(
        status=status,
        headers={"Location": receiver.url(path + "/moved")},
        body=f"bad hook {receiver.url(path)} ({path})".encode(),
    )
    with notifier(receiver.url(path), fmt="slack") as hook, pytest.raises(NotifyError) as caught:
        hook.send(alert())
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert TOKEN not in repr(hook)
    assert SECRET.removeprefix("whsec_") not in str(caught.value)


# -- hostile text -----------------------------------------------------------------------------

HOSTILE = [
    "line one\r\nX-Injected: yes",
    "next\x85line\u2028sep\u2029para",
    "<script>alert(1)</script>",
    '<a href="javascript:alert(1)">x</a>',
    '<img src="https://tracker.example/p.gif">',
    "@everyone @here <@123> <@&456> <!channel>",
    "[click me](javascript:alert(1)) [x](https://evil.example)",
    "*bold* _it_ ~~s~~ `code` || spoiler || > quote\n# heading\n- list",
    "T" * 10_000,
    "emoji 😀" * 3000,
    "",
]
URLS = [
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox",
    "https://ok.example/a?b=1&c=<2>|d",
    "http://ok.example/" + "p" * 5000,
    "https://exämple.org/x",
    "//no-scheme.example/x",
    "",
]

_LINK = re.compile(r"<([^<>|]*)\|")
_ESCAPED = re.compile(r"\\.", re.S)


def check_slack(payload: dict[str, Any]) -> None:
    assert set(payload) == {"text", "blocks"}
    assert len(payload["blocks"]) <= SLACK_BLOCKS
    for block in payload["blocks"]:
        texts = [block["text"]] if "text" in block else block["elements"]
        for obj in texts:
            text = obj["text"]
            if block["type"] == "header":
                assert obj["type"] == "plain_text"
                assert len(text) <= SLACK_HEADER
            assert len(text) <= SLACK_TEXT
            assert not re.search(r"&(?!amp;|lt;|gt;)", text), "unescaped &"
            # every < is ours: a link to an http(s) URL
            assert text.count("<") == len(_LINK.findall(text))
            for target in _LINK.findall(text):
                assert target.startswith(("http://", "https://")), target
                assert not any(ch.isspace() for ch in target)
    assert "<" not in payload["text"] and ">" not in payload["text"]


def check_discord(payload: dict[str, Any]) -> None:
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload.get("content") or payload.get("embeds")
    assert len(payload.get("content", "")) <= DISCORD_CONTENT
    embeds = payload.get("embeds", [])
    assert len(embeds) <= DISCORD_EMBEDS
    total = 0
    for embed in embeds:
        assert len(embed["title"]) <= DISCORD_TITLE
        assert len(embed["description"]) <= DISCORD_DESCRIPTION
        if "url" in embed:
            assert embed["url"].startswith(("http://", "https://"))
            assert not any(ch.isspace() for ch in embed["url"])
        for f in embed["fields"]:
            assert len(f["value"]) <= DISCORD_FIELD_VALUE
        total += len(embed["title"]) + len(embed["description"])
        total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
        for text in [embed["title"], embed["description"], *(f["value"] for f in embed["fields"])]:
            bare = _ESCAPED.sub("", text)
            assert not set("[]()<") & set(bare), text  # no markdown link, mention or tag
    assert total <= DISCORD_EMBED_TOTAL
    bare = _ESCAPED.sub("", payload.get("content", ""))
    assert not set("[]()<") & set(bare)


def check_all(message: Message) -> None:
    built: list[Mapping[str, object]] = [
        json_payload(message),
        slack_payload(message),
        discord_payload(message),
    ]
    wires = [encode(payload) for payload in built]
    for payload, wire in zip(built, wires, strict=True):
        assert json.loads(wire.decode("utf-8")) == payload  # valid JSON, exact round trip
        assert b"\n" not in wire and b"\r" not in wire
    v1, slack, discord = (json.loads(wire) for wire in wires)
    check_slack(slack)
    check_discord(discord)
    for it in v1["items"]:
        assert it["url"] == "" or it["url"].startswith(("http://", "https://"))


@pytest.mark.parametrize(
    ("text", "url"),
    [(text, URLS[i % len(URLS)]) for i, text in enumerate(HOSTILE)]
    + [(HOSTILE[i % len(HOSTILE)], url) for i, url in enumerate(URLS)],
)
def test_hostile_fixed_cases(text: str, url: str) -> None:
    msg = alert(headline=text, url=url, why=text, sources=(text, "B"), snippet=text)
    check_all(msg)
    check_all(Message(id="d", kind="digest", topic=text, items=msg.items * 12, created=NOW))
    check_all(Message(id="t", kind="test", topic="", created=NOW, title=text, text=text))


texts = st.one_of(st.text(max_size=300), st.sampled_from(HOSTILE))
spans = st.lists(st.tuples(st.integers(-5, 400), st.integers(-5, 400)), max_size=6)


@st.composite
def alert_items(draw: st.DrawFn) -> AlertItem:
    return item(
        headline=draw(texts),
        url=draw(st.one_of(st.sampled_from(URLS), st.text(max_size=60))),
        sources=tuple(draw(st.lists(texts, max_size=4))),
        snippet=draw(texts),
        snippet_terms=tuple(draw(spans)),
        why=draw(texts),
        published=draw(st.datetimes(timezones=st.just(UTC))),
    )


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(["alert", "digest", "test", "health"]),
    topic=texts,
    title=texts,
    text=texts,
    items=st.lists(alert_items(), min_size=1, max_size=14),
)
def test_payload_builders_survive_any_text(
    kind: Any, topic: str, title: str, text: str, items: list[AlertItem]
) -> None:
    check_all(
        Message(
            id="p", kind=kind, topic=topic, items=tuple(items), created=NOW, title=title, text=text
        )
    )


# -- Apprise ----------------------------------------------------------------------------------

HAS_APPRISE = importlib.util.find_spec("apprise") is not None


def test_apprise_module_imports_without_apprise_and_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # makes `import apprise` fail
    monkeypatch.delitem(sys.modules, "monitor.notify.apprise_notifier", raising=False)
    module = importlib.import_module("monitor.notify.apprise_notifier")  # imports fine
    AppriseNotifier = module.AppriseNotifier

    with pytest.raises(ConfigError) as caught:
        AppriseNotifier(AppriseSettings(name="ap", url_env="AP_URL"), url="json://127.0.0.1/")
    assert "pip install 'news-monitor[apprise]'" in str(caught.value)


@pytest.mark.skipif(not HAS_APPRISE, reason="apprise is not installed")
def test_apprise_delivers_to_a_json_receiver(receiver: Receiver) -> None:
    from monitor.notify.apprise_notifier import AppriseNotifier

    receiver.routes["/ap"] = Reply()
    settings = AppriseSettings(name="ap", url_env="AP_URL")
    target = AppriseNotifier(settings, url=f"json://127.0.0.1:{receiver.port}/ap")
    target.send(alert(headline="Rights\r\nBcc: x@example.org"))
    (got,) = receiver.requests("/ap")
    payload = got.json()
    assert payload["title"] == "[china-rights] Rights Bcc: x@example.org"
    assert "Example Wire, also reported by Daily Planet, Globe" in payload["message"]
    assert "https://news.example.org/story?id=1&src=rss" in payload["message"]

    receiver.routes["/ap"] = Reply(status=500)
    with pytest.raises(NotifyError) as caught:
        target.send(alert())
    assert "JSON" in str(caught.value)
    target.close()


@pytest.mark.skipif(not HAS_APPRISE, reason="apprise is not installed")
def test_apprise_refuses_an_unknown_url_without_echoing_it() -> None:
    from monitor.notify.apprise_notifier import AppriseNotifier

    with pytest.raises(ConfigError) as caught:
        AppriseNotifier(AppriseSettings(name="ap", url_env="AP_URL"), url=f"nope://{TOKEN}@x/")
    assert TOKEN not in str(caught.value)
    assert "AP_URL" in str(caught.value)


def documented_apprise_urls() -> dict[str, str]:
    """The example Apprise URLs of docs/config.md, by service."""
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "config.md").read_text("utf-8")
    table = text.split("| service | URL in the environment variable |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|") for line in table.splitlines()[2:] if line.startswith("|")]
    return {cells[1].strip(): cells[2].strip().strip("`") for cells in rows}


def test_the_docs_show_apprise_urls_for_the_chat_services() -> None:
    urls = documented_apprise_urls()
    for service in ("Telegram", "ntfy", "Matrix", "Microsoft Teams", "Mattermost"):
        assert service in urls, service


@pytest.mark.skipif(not HAS_APPRISE, reason="apprise is not installed")
def test_every_documented_apprise_url_is_one_apprise_takes() -> None:
    from monitor.notify.apprise_notifier import AppriseNotifier

    settings = AppriseSettings(name="ap", url_env="AP_URL")
    for service, url in documented_apprise_urls().items():
        target = AppriseNotifier(settings, url=url)  # raises ConfigError when Apprise refuses
        assert target.service != "apprise", service
        target.close()
