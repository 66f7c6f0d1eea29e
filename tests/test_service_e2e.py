"""`monitor run` as a subprocess against loopback feeds, SMTP and a webhook receiver."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import main
from tests.builders import LiveFeed
from tests.feedserver import FeedServer
from tests.procs import wait_for
from tests.servers import SECRET, Mailbox, Receiver, free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(
    tmp_path: Path, feed_server: FeedServer, mailbox: tuple[Mailbox, int], receiver: Receiver
) -> tuple[Path, LiveFeed, Receiver, Mailbox, int]:
    feed = LiveFeed()
    feed_server.route("/live.xml", handler=feed.response)
    box, smtp_port = mailbox
    metrics_port = free_port()
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[service]
tick = "200ms"
deliver_every = "500ms"
reload_every = "300ms"
grace = "5s"
metrics_port = {metrics_port}

[delivery]
backoff = "100ms"
max_backoff = "300ms"

[notifiers.hook]
type = "webhook"
url = "{receiver.url}"
secret_env = "HOOK_SECRET"
timeout = "3s"

[notifiers.desk]
type = "email"
host = "127.0.0.1"
port = {smtp_port}
security = "none"
sender = "monitor@example.org"
to = ["desk@example.org"]

[[feeds]]
url = "{feed_server.url("/live.xml")}"
name = "Live"
interval = "1s"
""",
        encoding="utf-8",
    )
    return config, feed, receiver, box, metrics_port


def start(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env={**os.environ, "HOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def topics(receiver: Receiver) -> list[tuple[str, str]]:
    return sorted((d["topic"], d["items"][0]["headline"]) for d in receiver.deliveries)


def stop(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stderr is not None
    stderr = proc.stderr.read().decode()
    print(stderr)  # shown by pytest when the test fails
    return code, stderr


def test_new_items_are_alerted_while_running_and_sigterm_exits_cleanly(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config, feed, receiver, box, metrics_port = env
    proc = start(config)
    try:
        feed.add("Envoys Agree to Resume Rights Talks")
        wait_for(lambda: len(receiver.ids) == 1 and len(box.messages) == 1)
        feed.add("Second Round of Rights Talks Planned")
        wait_for(lambda: len(receiver.ids) == 2 and len(box.messages) == 2)
        assert topics(receiver) == [
            ("human rights dialogue", "Envoys Agree to Resume Rights Talks"),
            ("human rights dialogue", "Second Round of Rights Talks Planned"),
        ]
        health = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=5)
        assert health.status == 200
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert b"monitor_stories_new_total 2" in metrics.read()
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "stopping" in stderr
    status = CliRunner().invoke(main, ["status", "--config", str(config)]).output
    assert "service: stopped" in status and "human rights dialogue" in status


def test_rule_edits_take_effect_and_broken_ones_keep_the_old_rules(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config, feed, receiver, _, _ = env
    rules = config.parent / "rules"
    proc = start(config)
    try:
        wait_for(lambda: (config.parent / "archive" / "monitor.db").exists())
        (rules / "harbour.toml").write_text(
            '[[topic]]\nname = "harbour"\nquery = "harbour NEAR/3 closed"\nnotify = ["hook"]\n',
            encoding="utf-8",
        )
        time.sleep(1.0)  # a few reload ticks
        feed.add("Storm Closes Harbour", "The harbour was closed on Friday by the storm.")
        wait_for(lambda: ("harbour", "Storm Closes Harbour") in topics(receiver))

        (rules / "harbour.toml").write_text('[[topic]]\nname = "harbour"\nquery = "(', "utf-8")
        time.sleep(1.0)
        status = CliRunner().invoke(main, ["status", "--config", str(config)]).output
        assert "reload error" in status and "harbour.toml:3:" in status
        feed.add("Harbour Closed Again", "The harbour was closed again on Sunday by a gale.")
        feed.add("Envoys Plan to Resume Rights Talks")
        wait_for(lambda: ("harbour", "Harbour Closed Again") in topics(receiver))
        wait_for(
            lambda: (
                ("human rights dialogue", "Envoys Plan to Resume Rights Talks") in topics(receiver)
            )
        )
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "reload failed, keeping the running configuration" in stderr


def test_sigkill_then_restart_loses_and_doubles_nothing(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config, feed, receiver, box, _ = env
    cities = ["Geneva", "Vienna", "Oslo", "Lima", "Accra", "Hanoi"]
    headlines = [f"Envoys Resume Rights Talks in {city}" for city in cities]
    # Different texts: near-identical ones would rightly be one story.
    bodies = [
        f"Delegations met in {city} on day {n} and agreed to resume the human rights dialogue "
        f"that {city} hosted {n + 2} years ago, officials from {city} said."
        for n, city in enumerate(cities)
    ]
    proc = start(config)
    for headline, body in zip(headlines[:3], bodies[:3], strict=True):
        feed.add(headline, body)
    wait_for(lambda: len(receiver.ids) >= 1)
    proc.kill()  # SIGKILL: no chance to finish anything
    proc.wait()
    for headline, body in zip(headlines[3:], bodies[3:], strict=True):
        feed.add(headline, body)
    proc = start(config)
    try:
        wait_for(
            lambda: (
                len(set(receiver.ids)) == 6
                and len({str(m["Message-ID"]) for m in box.messages}) == 6
            )
        )
        time.sleep(1.5)  # nothing more arrives
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    # A message in flight at the kill may arrive twice at the HTTP level, under one id.
    assert len(set(receiver.ids)) == 6 and len(receiver.ids) <= 7
    assert sorted({d["items"][0]["headline"] for d in receiver.deliveries}) == sorted(headlines)
    assert len({str(m["Message-ID"]) for m in box.messages}) == 6 and len(box.messages) <= 7


def test_a_second_service_on_the_same_archive_refuses(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config = env[0]
    first = start(config)
    try:
        wait_for(lambda: (config.parent / "archive" / "monitor.db.lock").exists())
        time.sleep(0.5)
        second = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "--config", str(config)],
            env={**os.environ, "HOOK_SECRET": SECRET},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert "another `monitor run`" in second.stderr
    finally:
        code, stderr = stop(first)
    assert code == 0, stderr


def test_status_and_feeds_do_not_change_what_a_running_service_polls(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int], feed_server: FeedServer
) -> None:
    config = env[0]
    running = config.read_text(encoding="utf-8")
    proc = start(config)
    try:
        wait_for(lambda: len(feed_server.requests_to("/live.xml")) >= 2)
        # An edit the service rejects (a notifier whose secret is not set): it keeps
        # polling Live, while the file on disk lists another feed only.
        feed_server.route("/other.xml", body="<rss/>")
        edited = running.replace(feed_server.url("/live.xml"), feed_server.url("/other.xml"))
        edited += '\n[notifiers.extra]\ntype = "webhook"\nurl = "https://h.example/x"\n'
        edited += 'secret_env = "MONITOR_TEST_SECRET_THAT_IS_NOT_SET"\n'
        config.write_text(edited, encoding="utf-8")
        wait_for(lambda: "reload error" in cli_status(config))
        for args in (["status"], ["feeds"], ["stories"], ["alerts"]):
            result = CliRunner().invoke(main, [*args, "--config", str(config)])
            assert result.exit_code == 0, result.output
        feeds = CliRunner().invoke(main, ["feeds", "--config", str(config)]).output
        assert "Live" in feeds and "/other.xml>: in the config file, not applied yet" in feeds
        polled = len(feed_server.requests_to("/live.xml"))
        wait_for(lambda: len(feed_server.requests_to("/live.xml")) >= polled + 2)
        assert feed_server.requests_to("/other.xml") == []
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr


def test_a_reload_after_a_rejected_one_says_the_error_is_fixed(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config = env[0]
    good = config.read_text(encoding="utf-8")
    proc = start(config)
    try:
        wait_for(lambda: "service: running" in cli_status(config))
        config.write_text(good + '\n[[feeds]]\nurl = "x.example.org/rss"\n', encoding="utf-8")
        wait_for(lambda: "reload error" in cli_status(config))
        assert 'did you mean "https://x.example.org/rss"?' in cli_status(config)
        config.write_text(good, encoding="utf-8")  # undone: what runs is what the file says
        wait_for(lambda: "reload error" not in cli_status(config))
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    rejected = stderr.index("reload failed, keeping the running configuration")
    assert stderr.index("configuration reloaded; the earlier error is fixed", rejected) > rejected


def cli_status(config: Path) -> str:
    return CliRunner().invoke(main, ["status", "--config", str(config)]).output


def test_run_refuses_to_start_with_alerts_that_could_go_nowhere(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config = env[0]
    rules = config.parent / "rules" / "pager.toml"
    rules.write_text(
        "[[topic]]\nname = 'harbour'\nquery = 'harbour'\nnotify = ['hook', 'pager']\n"
        "delivery = 'digest'\ndigest = 'daily 8am'\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env={**os.environ, "HOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert f"{rules}:6:10: digest: expected a schedule like" in proc.stderr
    assert "in the rule files and configuration; not starting" in proc.stderr
    rules.write_text(
        "[[topic]]\nname = 'harbour'\nquery = 'harbour'\nnotify = ['hook', 'pager']\n", "utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(config)],
        env={**os.environ, "HOOK_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert f"{rules}:4:19: notify: no notifier named 'pager'" in proc.stderr
    assert not (config.parent / "archive" / "monitor.db").exists()  # nothing ran


def test_a_reload_that_would_leave_a_topic_without_its_notifier_is_refused(
    env: tuple[Path, LiveFeed, Receiver, Mailbox, int],
) -> None:
    config, feed, receiver, _, _ = env
    rules = config.parent / "rules" / "harbour.toml"
    rules.write_text('[[topic]]\nname = "harbour"\nquery = "harbour"\nnotify = ["hook"]\n', "utf-8")
    good = config.read_text(encoding="utf-8")
    proc = start(config)
    try:
        feed.add("Storm Closes Harbour", "The harbour was closed on Friday by the storm.")
        wait_for(lambda: ("harbour", "Storm Closes Harbour") in topics(receiver))
        # The hook goes from config.toml while the topic still names it: both are kept.
        without_hook = re.sub(r"\[notifiers\.hook\].*?(?=\[notifiers)", "", good, flags=re.S)
        assert "notifiers.hook" not in without_hook and "notifiers.desk" in without_hook
        config.write_text(without_hook, encoding="utf-8")

        def refused() -> bool:
            out = CliRunner().invoke(main, ["status", "--config", str(config)]).output
            return f"{rules}:4:11: notify: no notifier named 'hook'" in out

        wait_for(refused)
        feed.add("Harbour Closed Again", "The harbour was closed again on Sunday by a gale.")
        wait_for(lambda: ("harbour", "Harbour Closed Again") in topics(receiver))
        config.write_text(good, encoding="utf-8")
        wait_for(lambda: not refused())
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "reload failed, keeping the running configuration" in stderr
