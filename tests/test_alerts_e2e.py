"""Alerts end to end: real feeds, a real SMTP server and a real webhook receiver on loopback."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from html import escape
from pathlib import Path

import pytest

from tests.cli_project import run
from tests.feedserver import FeedServer, Response
from tests.servers import SECRET, Mailbox, Receiver, free_port, smtp_server
from tests.test_webhook_schema import validate as validate_payload

ROOT = Path(__file__).resolve().parent.parent
SEEDS = sorted((Path(__file__).parent / "fixtures" / "seeds").glob("*.txt"))

pytestmark = pytest.mark.usefixtures("hook_secret")


def rss(stories: list[tuple[str, str]]) -> bytes:
    items = []
    for n, (headline, body) in enumerate(stories):
        html = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
        items.append(
            f"<item><title>{escape(headline)}</title><link>https://news.example/{n}</link>"
            f"<guid>story-{n}</guid><description>{escape(html)}</description></item>"
        )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def seed_stories() -> list[tuple[str, str]]:
    from monitor.text.pagetext import read_page_text

    out = []
    for seed in SEEDS:
        headline, body = read_page_text(seed.read_text(encoding="utf-8"))
        out.append((headline, "\n\n".join(body)))
    return out


def project(tmp_path: Path, feeds: list[str], smtp_port: int, hook: str) -> Path:
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    # The items are undated, old news to a first poll: these tests want them alerted.
    feed_tables = "".join(
        f'[[feeds]]\nurl = "{u}"\nname = "Feed {i}"\nbacklog_alerts = "all"\n\n'
        for i, u in enumerate(feeds)
    )
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[fetch]
timeout = "3s"

[delivery]
backoff = "10ms"
max_backoff = "20ms"

[notifiers.desk]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "monitor@example.org"
to = ["desk@example.org"]
timeout = "3s"

[notifiers.hook]
type = "webhook"
url = "{hook}"
secret_env = "HOOK_SECRET"
timeout = "3s"

{feed_tables}""",
        encoding="utf-8",
    )
    return config


def test_poll_alerts_every_match_once_by_email_and_webhook(
    tmp_path: Path, feed_server: FeedServer, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    box, port = mailbox
    feed_server.route("/wire.xml", body=rss(seed_stories()))
    config = project(tmp_path, [feed_server.url("/wire.xml")], port, receiver.url)
    out = run(config, "poll", "--once")
    assert "2 new stories, 0 changed, 8 alerts" in out  # 2 stories x 2 topics x 2 notifiers
    # Each story matched both topics: one message per story and notifier, naming both.
    assert "delivered 4 messages" in out
    subjects = sorted(str(m["Subject"]).strip() for m in box.messages)
    assert subjects == [
        "[MFN, human rights dialogue] China Ready to Resume Talks on Human Rights",
        "[MFN, human rights dialogue] U.S., China To Resume Rights Talks",
    ]
    assert {str(m["X-News-Monitor-Topic"]) for m in box.messages} == {"MFN, human rights dialogue"}
    assert len(set(receiver.ids)) == 2 and len(receiver.ids) == 2
    for payload in receiver.deliveries:
        validate_payload(payload)  # docs/webhook.schema.json
        assert payload["version"] == 1 and payload["type"] == "alert"
        assert payload["topics"] == ["MFN", "human rights dialogue"]
        assert payload["topic"] == "MFN, human rights dialogue"
        [item] = payload["items"]
        assert (
            item["why"].startswith("MFN: matched ") and "; human rights dialogue: " in item["why"]
        )
    # The message ids are those of the stories' first alerts, email and webhook alike.
    mail_ids = {str(m["Message-ID"]).strip("<>").split("@")[0] for m in box.messages}
    assert mail_ids.isdisjoint(receiver.ids) and len(mail_ids) == 2  # one id per notifier
    # Polling again (and again after a restart) alerts nothing twice.
    assert "0 alerts" in run(config, "poll", "--once")
    assert "delivered 0 messages" in run(config, "deliver")
    assert (len(box.messages), len(receiver.ids)) == (2, 2)


def test_a_topic_added_later_sends_one_new_message_naming_only_it(
    tmp_path: Path, feed_server: FeedServer, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    box, port = mailbox
    stories = seed_stories()
    feed_server.route("/wire.xml", body=rss(stories))
    config = project(tmp_path, [feed_server.url("/wire.xml")], port, receiver.url)
    assert "delivered 4 messages" in run(config, "poll", "--once")
    with (tmp_path / "rules" / "topics.toml").open("a", encoding="utf-8") as f:
        f.write("\n[[topic]]\nname = \"Beijing\"\nquery = 'china'\n")
    # The first story is edited: matched again, it gains the new topic and keeps the old.
    headline, body = stories[0]
    feed_server.route("/wire.xml", body=rss([(headline, body + "\n\nUpdated."), stories[1]]))
    out = run(config, "poll", "--once")
    assert "1 changed, 2 alerts" in out and "delivered 2 messages" in out
    assert sorted(str(m["Subject"]).strip() for m in box.messages[2:]) == [f"[Beijing] {headline}"]
    [new] = receiver.deliveries[2:]
    assert new["topics"] == ["Beijing"] and new["items"][0]["headline"] == headline
    assert len(set(receiver.ids)) == 3
    assert "0 alerts" in run(config, "poll", "--once")
    assert (len(box.messages), len(receiver.ids)) == (3, 3)


def test_receiver_failing_for_a_while_gets_every_alert_exactly_once(
    tmp_path: Path, feed_server: FeedServer, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    _, port = mailbox
    feed_server.route("/wire.xml", body=rss(seed_stories()))
    config = project(tmp_path, [feed_server.url("/wire.xml")], port, receiver.url)
    receiver.fail_next = 5
    out = run(config, "poll", "--once")
    assert "delivered 2 messages" in out  # the email ones; the hook answered 500
    for _ in range(20):
        if len(receiver.ids) == 2:
            break
        time.sleep(0.05)
        run(config, "deliver")
    assert sorted(receiver.ids) == sorted(set(receiver.ids)) and len(receiver.ids) == 2
    assert "outbox empty" not in run(config, "alerts", "--all")


def test_smtp_unreachable_is_retried_then_delivered(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    feed_server.route("/wire.xml", body=rss(seed_stories()))
    port = free_port()  # nothing listens here yet
    config = project(tmp_path, [feed_server.url("/wire.xml")], port, receiver.url)
    out = run(config, "poll", "--once")
    assert "delivered 2 messages" in out  # the webhook ones
    assert "1 to retry" in out and "1 deferred" in out
    listing = run(config, "alerts")
    assert "desk" in listing and "last error:" in listing
    box = Mailbox()
    with smtp_server(box, port):
        time.sleep(0.05)
        assert "delivered 2 messages" in run(config, "deliver")
        assert len(box.messages) == 2
        assert len({str(m["Message-ID"]) for m in box.messages}) == 2


def test_sigkill_between_outbox_and_delivery_loses_and_doubles_nothing(
    tmp_path: Path, feed_server: FeedServer, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> None:
    box, port = mailbox
    feed_server.route("/wire.xml", body=rss(seed_stories()))
    # A second feed that never finishes keeps the poll (and so delivery) from starting.
    feed_server.route(
        "/slow.xml",
        handler=lambda req: Response(body=iter([b"<rss>"] + [b" "] * 10_000), delay=0.2),
    )
    config = project(
        tmp_path, [feed_server.url("/wire.xml"), feed_server.url("/slow.xml")], port, receiver.url
    )
    env = {**os.environ, "HOOK_SECRET": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "poll", "--once", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = tmp_path / "archive" / "monitor.db"
    deadline = time.monotonic() + 20
    pending = 0
    while time.monotonic() < deadline and pending < 4:
        time.sleep(0.05)
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    pending = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            except sqlite3.OperationalError:
                pending = 0
    assert pending == 4, "the alerts were not written in time"  # 2 stories x 2 notifiers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert box.messages == [] and receiver.ids == []
    assert "delivered 4 messages" in run(config, "deliver")
    assert "delivered 0 messages" in run(config, "deliver")
    assert len(box.messages) == 2 and len(receiver.ids) == 2
    assert len(set(receiver.ids)) == 2
    assert "4 sent" in run(config, "alerts")


def test_a_topic_deep_in_the_article_is_alerted_with_full_articles(
    tmp_path: Path, feed_server: FeedServer, receiver: Receiver
) -> None:
    """The items carry only their first paragraph; MFN comes later, on the article page."""
    from monitor.text.pagetext import read_page_text

    items = []
    for n, seed in enumerate(SEEDS):
        headline, body = read_page_text(seed.read_text(encoding="utf-8"))
        assert "favored nation" not in body[0] and "MFN" not in body[0]
        page = "".join(f"<p>{escape(p)}</p>" for p in body)
        feed_server.route(
            f"/story/{n}",
            body=f"<html><head><title>{escape(headline)}</title></head><body><nav>Home World"
            f"</nav><article><h1>{escape(headline)}</h1>{page}</article></body></html>",
            content_type="text/html",
        )
        items.append(
            f"<item><title>{escape(headline)}</title><link>{feed_server.url(f'/story/{n}')}"
            f"</link><guid>story-{n}</guid><description>{escape(body[0])}</description></item>"
        )
    feed_server.route(
        "/wire.xml",
        body=f'<rss version="2.0"><channel><title>W</title>{"".join(items)}</channel></rss>',
    )

    def alerted_topics(full_article: str) -> list[str]:
        directory = tmp_path / full_article
        shutil.copytree(ROOT / "rules", directory / "rules")
        config = directory / "config.toml"
        config.write_text(
            f"""
[articles]
allow = ["127.0.0.1"]

[notifiers.hook]
type = "webhook"
url = "{receiver.url}"
secret_env = "HOOK_SECRET"

[[feeds]]
url = "{feed_server.url("/wire.xml")}"
name = "Wire"
full_article = {full_article}
backlog_alerts = "all"
""",
            encoding="utf-8",
        )
        before = len(receiver.deliveries)
        run(config, "poll", "--once")
        if full_article == '"auto"':
            assert "full articles (last week): 2 from the page, 0 kept" in run(config, "status")
        return sorted(d["topic"] for d in receiver.deliveries[before:])

    # Feed text only: the first paragraphs tell of the talks, neither mentions MFN.
    assert alerted_topics("false") == ["human rights dialogue"] * 2
    # With the articles, each story matches both topics: one message each, naming both.
    assert alerted_topics('"auto"') == ["MFN, human rights dialogue"] * 2
