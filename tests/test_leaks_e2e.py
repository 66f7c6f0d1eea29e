"""The real service and commands with secrets planted in URLs, and idle probe connections.

Secrets go in feed URLs (a password, query tokens), in a webhook URL (a secret path
and query) and in redirects; the service runs at debug level, fails on purpose
(feeds, deliveries, a rejected reload) and sends alerts and health messages. Then
everything that came out is searched for the secrets: what the service printed and
logged, what every command printed, the rows the commands show, what receivers got.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import IO

import pytest

from tests.builders import STORY
from tests.feedserver import FeedServer, Request, Response
from tests.procs import wait_until
from tests.servers import SECRET, Receiver, closed_by_peer, free_port
from tests.test_service_e2e import ROOT

FEED_PASSWORD = "s3cr3tFeedPW"
PLANTED = (
    FEED_PASSWORD,
    "PLANTEDTOKEN",  # ?token= of the private feed
    "PLANTEDPW2",  # password of the failing feed
    "PLANTEDKEY",  # ?api_key= of the failing feed
    "PLANTEDPW3",  # password of the feed that redirects in a loop
    "PLANTEDSIG",  # ?sig= in its redirect
    "PLANTEDHOOKPATH",  # the webhook's secret path segment
    "PLANTEDHOOKKEY",  # ?key= of the webhook
)


class PrivateFeed:
    """A feed behind Basic authentication whose items link relative to the feed."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, headline: str) -> None:
        self.items.append(headline)

    def response(self, request: Request) -> Response:
        expected = base64.b64encode(f"reader:{FEED_PASSWORD}".encode()).decode()
        if request.header("Authorization") != f"Basic {expected}":
            return Response(status=401, body=b"who are you?")
        stamp = format_datetime(datetime.now(UTC))
        items = "".join(
            f"<item><title>{h}</title><link>story/{n}</link><guid>p-{n}</guid>"
            f"<pubDate>{stamp}</pubDate><description>{STORY}</description></item>"
            for n, h in enumerate(self.items)
        )
        return Response(
            body=f'<?xml version="1.0"?><rss version="2.0"><channel><title>Private</title>'
            f"{items}</channel></rss>"
        )


class Setup:
    def __init__(self, tmp_path: Path, feed_server: FeedServer) -> None:
        self.dir = tmp_path
        self.feed = PrivateFeed()
        feed_server.route("/private/feed.xml", handler=self.feed.response)
        feed_server.route("/broken.xml", status=500, body=b"oops")
        feed_server.route(
            "/loop.xml", status=302, headers={"Location": "/loop2.xml?sig=PLANTEDSIG"}
        )
        feed_server.route("/loop2.xml", status=302, headers={"Location": "/loop.xml"})
        base = feed_server.base_url.removeprefix("http://")
        self.private_url = (
            f"http://reader:{FEED_PASSWORD}@{base}/private/feed.xml?token=PLANTEDTOKEN&page=1"
        )
        self.receiver = Receiver()
        self.hook_url = f"{self.receiver.url}/PLANTEDHOOKPATH?key=PLANTEDHOOKKEY"
        self.metrics_port = free_port()
        shutil.copytree(ROOT / "rules", tmp_path / "rules")
        self.config = tmp_path / "config.toml"
        self.text = f"""
[service]
tick = "200ms"
deliver_every = "500ms"
reload_every = "300ms"
grace = "5s"
metrics_port = {self.metrics_port}
health_notifier = "hook"
failing_after = "1s"

[delivery]
backoff = "100ms"
max_backoff = "300ms"

[notifiers.hook]
type = "webhook"
url = "{self.hook_url}"
secret_env = "HOOK_SECRET"
timeout = "3s"

[notifiers.console]
type = "console"

[[feeds]]
url = "{self.private_url}"
interval = "1s"
backlog_alerts = "all"

[[feeds]]
url = "http://ops:PLANTEDPW2@{base}/broken.xml?api_key=PLANTEDKEY"
name = "Broken"
interval = "1s"

[[feeds]]
url = "http://looper:PLANTEDPW3@{base}/loop.xml"
name = "Loop"
interval = "1s"
"""
        self.config.write_text(self.text, encoding="utf-8")
        self.outputs: dict[str, str] = {}

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "monitor", *args, "--config", str(self.config)],
            env={**os.environ, "HOOK_SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        self.outputs[f"monitor {' '.join(args)}"] = done.stdout + done.stderr
        return done

    def start(self, out: IO[bytes], err: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "-vv", "run", "--config", str(self.config)],
            env={**os.environ, "HOOK_SECRET": SECRET},
            stdout=out,
            stderr=err,
        )


@pytest.fixture
def setup(tmp_path: Path, feed_server: FeedServer) -> Iterator[Setup]:
    s = Setup(tmp_path, feed_server)
    try:
        yield s
    finally:
        s.receiver.stop()


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.terminate()
    try:
        return proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def archive_rows(archive: Path) -> list[str]:
    """The text the commands show from the archive (not the feeds' own URLs, which the
    service needs in full to poll them)."""
    db = sqlite3.connect(f"file:{archive}?mode=ro", uri=True)
    try:
        queries = (
            "SELECT value FROM service_status",
            "SELECT last_error FROM feeds",
            "SELECT last_error FROM outbox",
            "SELECT payload FROM outbox",
            "SELECT disabled_reason FROM notifiers",
            "SELECT url FROM stories",
            "SELECT link FROM story_sources",
        )
        return [str(row[0]) for q in queries for row in db.execute(q) if row[0] is not None]
    finally:
        db.close()


def test_no_planted_secret_reaches_any_output(setup: Setup) -> None:
    s = setup
    s.receiver.fail_next = 2  # failed deliveries: errors that could quote the hook URL
    s.feed.add("Envoys Agree to Resume Rights Talks")
    with (s.dir / "out.log").open("wb") as out, (s.dir / "err.log").open("wb") as err:
        proc = s.start(out, err)
        try:
            wait_until(
                lambda: any(d["type"] == "alert" for d in s.receiver.deliveries), 30, "an alert"
            )
            wait_until(
                lambda: any(d["type"] == "health" for d in s.receiver.deliveries),
                30,
                "a health message about the failing feeds",
            )
            # A rejected reload: its error names the feed by its URL.
            s.config.write_text(
                s.text + f'\n[[feeds]]\nurl = "{s.private_url}"\ninterval = "soon"\n', "utf-8"
            )
            wait_until(lambda: "reload error" in s.command("status").stdout, 30, "reload error")
            for args in (("feeds",), ("alerts", "--all"), ("check",), ("stories",)):
                s.command(*args)
            s.config.write_text(s.text, encoding="utf-8")
        finally:
            code = stop(proc)
    assert code == 0
    for args in (("poll",), ("status",), ("feeds",), ("alerts", "--all"), ("check",)):
        s.command(*args)

    service_out = (s.dir / "out.log").read_text("utf-8")
    service_err = (s.dir / "err.log").read_text("utf-8")
    received = json.dumps(s.receiver.deliveries, ensure_ascii=False)
    rows = archive_rows(s.dir / "archive" / "monitor.db")
    everything = {
        "service stdout": service_out,
        "service stderr": service_err,
        "webhook deliveries": received,
        "archive rows": "\n".join(rows),
        **s.outputs,
    }
    for where, text in everything.items():
        for secret in PLANTED:
            assert secret not in text, f"{secret} in {where}:\n{text}"

    # It all happened, shown without the secrets.
    assert "Envoys Agree to Resume Rights Talks" in service_out  # the console's alert
    assert "reader:***@" in s.outputs["monitor feeds"]
    assert "token=***&page=1" in s.outputs["monitor feeds"]
    assert "ops:***@" in s.outputs["monitor poll"]
    assert "redirect loop" in s.outputs["monitor poll"]
    assert "/private/story/0" in "\n".join(rows)  # the link, resolved without credentials
    assert "feed failing" in received
    assert "/hook/***: HTTP 500" in service_err  # the failed deliveries, logged
    assert "DEBUG" in service_err  # the most talkative level was searched


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return int(answer.status)
    except (urllib.error.URLError, OSError):
        return None


def test_idle_probe_connections_cannot_exhaust_the_service(setup: Setup) -> None:
    s = setup
    s.feed.add("Envoys Agree to Resume Rights Talks")
    idle: list[socket.socket] = []
    with (s.dir / "out.log").open("wb") as out, (s.dir / "err.log").open("wb") as err:
        proc = s.start(out, err)
        try:
            wait_until(lambda: len(s.receiver.deliveries) >= 1, 30, "the first delivery")
            wait_until(lambda: healthz(s.metrics_port) == 200, 30, "/healthz")
            before = fd_count(proc.pid)
            for _ in range(200):
                idle.append(socket.create_connection(("127.0.0.1", s.metrics_port), timeout=5))
            # Accepted and closed beyond the limit, or held: never one descriptor each.
            wait_until(
                lambda: sum(closed_by_peer(c) for c in idle) >= 200 - 16, 30, "refused extras"
            )
            assert fd_count(proc.pid) <= before + 16 + 24
            # The service still polls and delivers with the connections open...
            delivered = len(s.receiver.deliveries)
            s.feed.add("Second Round of Rights Talks Planned")
            wait_until(lambda: len(s.receiver.deliveries) > delivered, 30, "another delivery")
            # ...and a fresh probe is answered once the idle ones have timed out.
            wait_until(lambda: healthz(s.metrics_port) == 200, 30, "/healthz again")
            assert fd_count(proc.pid) <= before + 16 + 24
        finally:
            for conn in idle:
                conn.close()
            code = stop(proc)
    assert code == 0
