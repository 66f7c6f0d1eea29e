"""Alerts that cannot be routed are held in the archive and sent once the configuration is fixed.

Every entry point refuses rules that name a notifier the configuration lacks, so a
held match arises only when a poll finishes on a configuration that a reload has
just replaced. These tests make that state directly (a planner built on rules the
configuration cannot route), then fix the configuration and deliver, with a real
SMTP server, a real webhook receiver, a real archive and the real service.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.alerts.plan import AlertPlanner
from monitor.archive import open_archive
from monitor.config import load_config
from monitor.poll.poller import Poller
from monitor.rules import check_rules_against_config, load_rules
from tests.builders import LiveFeed
from tests.cli_project import run
from tests.feedserver import FeedServer
from tests.procs import wait_for
from tests.servers import SECRET, Mailbox, Receiver

pytestmark = pytest.mark.usefixtures("hook_secret")

HARBOUR = "[[topic]]\nname = 'harbour'\nquery = 'harbour'\nnotify = ['{to}']\n"


def write_config(path: Path, feed: str, smtp_port: int, hook: str | None) -> None:
    hook_table = (
        f'[notifiers.hook]\ntype = "webhook"\nurl = "{hook}"\nsecret_env = "HOOK_SECRET"\n'
        if hook
        else ""
    )
    path.write_text(
        f"""
[service]
tick = "200ms"
deliver_every = "300ms"
reload_every = "300ms"

[notifiers.desk]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "monitor@example.org"
to = ["desk@example.org"]

{hook_table}
[[feeds]]
url = "{feed}"
name = "Harbour"
interval = "1s"
""",
        encoding="utf-8",
    )


def poll_with_unroutable_rules(config_path: Path) -> None:
    """One poll whose planner's rules name a notifier its configuration lacks."""
    config = load_config(config_path)
    rules, errors = load_rules(config.rules_path)
    assert errors == [] and check_rules_against_config(rules, config) != []
    archive = open_archive(config.archive_url)
    planner = AlertPlanner(lambda: rules, config.feeds, list(config.notifiers))
    poller = Poller(config, archive, matcher=planner)
    try:
        summary = asyncio.run(poller.poll(all_feeds=True))
    finally:
        poller.close()
        archive.close()
    assert summary.new_stories == 1 and summary.alerts == 0


@pytest.fixture
def setup(
    tmp_path: Path, feed_server: FeedServer, mailbox: tuple[Mailbox, int]
) -> tuple[Path, LiveFeed, Mailbox, int]:
    feed = LiveFeed(
        title="H", guid="i", body="{headline}: the harbour was closed by the storm.", prolog=""
    )
    feed_server.route("/h.xml", handler=feed.response)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "harbour.toml").write_text(HARBOUR.format(to="hook"), "utf-8")
    config = tmp_path / "config.toml"
    box, port = mailbox
    write_config(config, feed_server.url("/h.xml"), port, hook=None)
    feed.add("Storm Closes Harbour")
    poll_with_unroutable_rules(config)
    return config, feed, box, port


def test_held_alerts_go_out_once_the_rule_names_a_notifier_that_exists(
    setup: tuple[Path, LiveFeed, Mailbox, int],
) -> None:
    config, _, box, _ = setup
    status = run(config, "status")
    assert "topic 'harbour': alerts for 1 story held back (no notifier named 'hook')" in status
    assert "1 /     1  harbour" in status  # the match counts

    # Still broken: deliver says so (and sends what it can); the alert stays held.
    out = run(config, "deliver", code=1)
    assert "harbour.toml:4:11: notify: no notifier named 'hook'" in out
    assert box.messages == [] and "held back" in run(config, "status")

    # Fixed in the rule file: the alert goes to the notifier it names now, once.
    (config.parent / "rules" / "harbour.toml").write_text(HARBOUR.format(to="desk"), "utf-8")
    assert "delivered 1 message;" in run(config, "deliver")
    assert "delivered 0 messages" in run(config, "deliver")
    assert [str(m["Subject"]) for m in box.messages] == ["[harbour] Storm Closes Harbour"]
    assert "held back" not in run(config, "status")


def test_the_service_sends_held_alerts_once_the_notifier_is_configured(
    setup: tuple[Path, LiveFeed, Mailbox, int], receiver: Receiver, feed_server: FeedServer
) -> None:
    config, feed, box, port = setup
    write_config(config, feed_server.url("/h.xml"), port, hook=receiver.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env={**os.environ, "HOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(receiver.deliveries) == 1, 20.0)
        feed.add("Harbour Reopens")  # and what comes next is alerted as usual
        wait_for(lambda: len(receiver.deliveries) == 2, 20.0)
        time.sleep(1.0)  # a few delivery rounds: nothing is sent twice
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
    assert code == 0, stderr
    assert [d["items"][0]["headline"] for d in receiver.deliveries] == [
        "Storm Closes Harbour",
        "Harbour Reopens",
    ]
    assert len(set(receiver.ids)) == 2 and box.messages == []
    assert "1 held alerts can be sent now" in stderr
    assert "held back" not in run(config, "status")
