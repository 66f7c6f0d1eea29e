"""Three `monitor run` workers on one PostgreSQL archive: 300 feeds on a loopback server,
some of whose items match a topic, and a webhook receiver that counts what arrives.

Every feed is polled, every expected alert arrives exactly once, and a SIGKILL of one
worker in the middle changes neither: its claims are taken over, and nothing it had
done is done again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from monitor.archive import open_archive
from tests.feedserver import FeedServer
from tests.procs import wait_until
from tests.servers import SECRET, Receiver

FEEDS = 300
MATCHING = range(0, FEEDS, 10)  # these feeds carry one item about the harbour strike
ITEMS = 3

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("hook_secret")]


def feed_body(n: int) -> bytes:
    now = format_datetime(datetime.now(UTC))
    items = []
    for i in range(ITEMS):
        headline = f"Harbour strike enters day {n}" if i == 0 and n in MATCHING else f"Note {n}.{i}"
        items.append(
            f"<item><title>{headline}</title><link>https://n{n}.example/{i}</link>"
            f"<guid>f{n}-i{i}</guid><pubDate>{now}</pubDate>"
            f"<description>Item {i} of feed {n}: the council met on Tuesday.</description></item>"
        )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def write_project(folder: Path, archive_url: str, feed_server: FeedServer, hook: str) -> Path:
    rules = folder / "rules"
    rules.mkdir()
    (rules / "topics.toml").write_text(
        "[[topic]]\nname = \"harbour\"\nquery = 'harbour AND strike'\n", encoding="utf-8"
    )
    feeds = "".join(
        f'[[feeds]]\nurl = "{feed_server.route(f"/f/{n}.xml", body=feed_body(n))}"\n'
        f'name = "Feed {n}"\ninterval = "1h"\n\n'
        for n in range(FEEDS)
    )
    config = folder / "config.toml"
    config.write_text(
        f"""
[archive]
url = "{archive_url}"

[service]
tick = "300ms"
deliver_every = "300ms"
grace = "5s"

[schedule]
backlog_alerts = "all"
workers = 1

[fetch]
timeout = "5s"

[notifiers.hook]
type = "webhook"
url = "{hook}"
secret_env = "HOOK_SECRET"
timeout = "5s"

{feeds}""",
        encoding="utf-8",
    )
    return config


def start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            env={**os.environ, "HOOK_SECRET": SECRET},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def polled_feeds(feed_server: FeedServer) -> Counter[str]:
    return Counter(r.path for r in feed_server.requests if r.path.startswith("/f/"))


def pollers(feed_server: FeedServer) -> dict[str, list[str]]:
    """Per feed, the workers that fetched it, in order (their User-Agent says which)."""
    out: dict[str, list[str]] = {}
    for r in feed_server.requests:
        if r.path.startswith("/f/"):
            out.setdefault(r.path, []).append(r.header("user-agent") or "")
    return out


def test_three_workers_poll_every_feed_and_send_every_alert_once_despite_a_sigkill(
    tmp_path: Path, postgres_url: str, feed_server: FeedServer, receiver: Receiver
) -> None:
    config = write_project(tmp_path, postgres_url, feed_server, receiver.url)
    open_archive(postgres_url).close()  # the schema, made once before the workers race
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]
    # The same configuration, but for a local setting that tells the server who asks.
    configs = [config.with_name(f"worker{n}.toml") for n in range(3)]
    for n, own in enumerate(configs):
        text = config.read_text(encoding="utf-8")
        own.write_text(text.replace("[fetch]\n", f'[fetch]\nuser_agent = "w{n}"\n'), "utf-8")
    workers = [start(own, log) for own, log in zip(configs, logs, strict=True)]
    try:
        # A third of the feeds polled: the workers are all at it. Kill one between two
        # of its webhook POSTs (a POST cut short would be sent again by design: delivery
        # is at least once, with the same id, and this test counts exactly once).
        wait_until(lambda: len(polled_feeds(feed_server)) >= FEEDS // 3, 60, "a third polled")
        wait_until(lambda: receiver.arrived == receiver.answered, 10, "no POST in flight")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        before_kill = polled_feeds(feed_server)
        wait_until(lambda: len(polled_feeds(feed_server)) == FEEDS, 120, "every feed polled")
        wait_until(lambda: len(set(receiver.ids)) >= len(MATCHING), 60, "every alert sent")
        time.sleep(2)  # anything sent twice would have come by now
    finally:
        for proc in workers[1:]:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(20) for proc in workers[1:]]
        for log in logs:
            print(log.read_text(encoding="utf-8", errors="replace")[-3000:])
    assert codes == [0, 0]
    # Every expected alert, once each.
    assert sorted(d["items"][0]["headline"] for d in receiver.deliveries) == sorted(
        f"Harbour strike enters day {n}" for n in MATCHING
    )
    assert len(receiver.ids) == len(set(receiver.ids)) == len(MATCHING)
    # Every feed polled; a second time only where the killed worker had fetched it and not
    # yet recorded the poll (its claims were taken over): never two polls of a feed after.
    counts = polled_feeds(feed_server)
    assert len(counts) == FEEDS
    by = pollers(feed_server)
    twice = {path: who for path, who in by.items() if len(who) > 1}
    assert all(who[0] == "w0" and "w0" not in who[1:] for who in twice.values()), twice
    assert all(len(who) == 2 and before_kill[path] == 1 for path, who in twice.items()), twice
    # All three worked: the feeds spread over them.
    assert {who[0] for who in by.values()} == {"w0", "w1", "w2"}
    # `monitor status` tells each worker's state: two stopped, one killed.
    shown = subprocess.run(
        [sys.executable, "-m", "monitor", "status", "--config", str(configs[1])],
        capture_output=True,
        text=True,
        check=False,
    )
    print(shown.stderr)
    status = shown.stdout
    assert "service: 0 workers running on the shared archive" in status
    assert status.count(": stopped at ") == 2 and status.count("ended without stopping") == 1
    archive = open_archive(postgres_url, read_only=True)
    try:
        assert archive.count_stories() == FEEDS * ITEMS
        states = archive.feed_states()
        assert len(states) == FEEDS and all(s.last_success is not None for s in states)
        assert archive.outbox_counts() == {"sent": len(MATCHING)}
    finally:
        archive.close()
