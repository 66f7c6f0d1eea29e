"""Rules cannot freeze the service: reloads compile off the loop, every failure is shown
and told, and what a crash left unmatched is matched (and alerted once) on the next start.

The real service, as a subprocess (``tests.test_service_e2e``) or, where a failure must
be injected, in this process; real feeds, webhook receiver and SMTP server on loopback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.archive import open_archive
from monitor.archive.sqlite import SQLiteArchive
from monitor.config import load_config
from monitor.errors import ArchiveMissing
from monitor.poll.schedule import replanner
from monitor.rules import engine as rule_engine
from monitor.service.runner import Service
from tests import builders
from tests.builders import STORY, LiveFeed
from tests.feedserver import FeedServer
from tests.procs import wait_for
from tests.servers import SECRET, Mailbox, Receiver
from tests.test_service_e2e import cli_status, start, stop
from tests.test_service_e2e import env as env  # a fixture
from tests.test_webhook_schema import validate as validate_payload

Env = tuple[Path, LiveFeed, Receiver, Mailbox, int]
HARBOUR = "[[topic]]\nname = 'harbour'\nquery = 'harbour NEAR/3 closed'\nnotify = ['hook']\n"
NEAR = "[aliases]\nB = '{}'\n\n[[topic]]\nname = 'near'\nquery = '(@B OR z) NEAR w'\n"
WAIT = 30.0  # seconds; only ever reached when something is broken


def put(path: Path, text: str) -> None:
    """Write a file whole: the service never reads it half-written."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def status_of(config: Path) -> dict[str, Any]:
    """The service's status as it recorded it ({} before it has made its archive)."""
    try:
        archive = open_archive(load_config(config).archive_url, read_only=True)
    except ArchiveMissing:
        return {}
    try:
        return archive.status()
    finally:
        archive.close()


def alerts(receiver: Receiver) -> list[tuple[str, str]]:
    return sorted(
        (d["topic"], d["items"][0]["headline"]) for d in receiver.deliveries if d["type"] == "alert"
    )


def health(receiver: Receiver) -> list[dict[str, Any]]:
    return [d for d in receiver.deliveries if d["type"] == "health"]


def with_health_notifier(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[service]\n", '[service]\nhealth_notifier = "hook"\n'), "utf-8")


def test_sigterm_during_a_long_reload_stops_the_service_and_polls_go_on_meanwhile(
    env: Env, feed_server: FeedServer
) -> None:
    config = env[0]
    text = config.read_text(encoding="utf-8")
    # Ticks often, the feed polled every second (the shortest feed interval), so that a few
    # polls fit in any reload.
    text = text.replace('tick = "200ms"', 'tick = "100ms"')
    config.write_text(text, encoding="utf-8")
    # 60,000 topics: far more than polls need to go round a few times, on any machine (20,000
    # compiled in 3 s on a fast one, too near the two 1-second polls waited for below).
    topics = "".join(
        f"[[topic]]\nname = 'big {i}'\n"
        f"query = '\"harbour {i}\" NEAR/5 (closed OR shut) AND NOT sport{i}'\n\n"
        for i in range(60_000)
    )
    requests = lambda: len(feed_server.requests_to("/live.xml"))  # noqa: E731
    proc = start(config)
    try:
        wait_for(lambda: "service: running" in cli_status(config) and requests() >= 2)
        put(config.parent / "rules" / "big.toml", topics)
        wait_for(lambda: "reloading the edited configuration" in cli_status(config), WAIT)
        before = requests()
        wait_for(lambda: requests() >= before + 2, WAIT)
        # Still compiling: those polls ran while the rules reloaded.
        assert "reloading the edited configuration" in cli_status(config)
    finally:
        code, stderr = stop(proc)  # SIGTERM, mid-compile
    assert code == 0, stderr
    assert "stopping" in stderr and "configuration reloaded" not in stderr
    assert "reloading" not in cli_status(config)


def test_a_rejected_reload_is_shown_told_once_and_its_fix_taken(env: Env) -> None:
    config, feed, receiver, _, _ = env
    with_health_notifier(config)
    rules = config.parent / "rules"
    proc = start(config)
    try:
        wait_for(lambda: "service: running" in cli_status(config))
        # Was an AssertionError in the matcher's compiler, logged as "housekeeping failed".
        near = rules / "near.toml"
        put(
            near,
            "[aliases]\nB = 'x AND y'\n\n[[topic]]\nname = 'near'\nquery = '(@B OR z) NEAR w'\n",
        )
        error = f"{near}:6:11: @B cannot be used with NEAR"
        wait_for(lambda: error in cli_status(config))
        wait_for(lambda: len(health(receiver)) == 1)
        (told,) = health(receiver)
        assert told["title"] == "reload failed: 1 error" and error in told["text"]

        # Another edit, with the same error still there: refused, and not told again.
        reloaded = status_of(config)["reloaded"]
        put(rules / "harbour.toml", HARBOUR)
        wait_for(lambda: status_of(config)["reloaded"] != reloaded)
        assert error in cli_status(config)

        # A second, distinct error while the first stays: told, and only it is listed.
        other = rules / "other.toml"
        put(other, near.read_text("utf-8").replace("'near'", "'other'").replace("B", "C"))
        second = f"{other}:6:11: @C cannot be used with NEAR"
        wait_for(lambda: len(health(receiver)) == 2)
        assert health(receiver)[1]["title"] == "reload failed: 2 errors"
        assert second in health(receiver)[1]["text"] and error not in health(receiver)[1]["text"]

        # Fixed: said once, and every edit is taken.
        other.unlink()
        put(
            near,
            "[aliases]\nB = 'x OR y'\n\n[[topic]]\nname = 'near'\nquery = '(@B OR z) NEAR w'\n",
        )
        wait_for(lambda: len(health(receiver)) == 3)
        assert [d["title"] for d in health(receiver)] == [
            "reload failed: 1 error",
            "reload failed: 2 errors",
            "reload works again",
        ]
        for payload in health(receiver):
            validate_payload(payload)  # docs/webhook.schema.json
        assert "reload error" not in cli_status(config)
        feed.add("Storm Closes Harbour", "The harbour was closed on Friday by the storm.")
        wait_for(lambda: ("harbour", "Storm Closes Harbour") in alerts(receiver))
    finally:
        code, stderr = stop(proc)
    assert code == 0, stderr
    assert "housekeeping failed" not in stderr


async def until(condition: Callable[[], bool]) -> None:
    """Let the service run until ``condition`` holds."""
    for _ in range(int(WAIT / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out waiting")


def test_a_reload_that_crashes_is_an_error_and_the_next_edit_tries_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _, receiver, _, _ = env
    with_health_notifier(config)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    harbour = config.parent / "rules" / "harbour.toml"
    service = Service(config)

    def crash(*args: object, **kwargs: object) -> object:
        raise RecursionError("maximum recursion depth exceeded")

    def errors() -> list[str]:
        found: list[str] = status_of(config).get("reload_errors", [])
        return found

    async def scenario() -> int:
        running = asyncio.create_task(service._main())
        try:
            await until(lambda: status_of(config).get("state") == "running")
            with monkeypatch.context() as patch:
                # Whatever a reload raises (RecursionError, AssertionError, MemoryError...).
                patch.setattr(rule_engine, "compile_rule_files", crash)
                put(harbour, HARBOUR)
                await until(lambda: any("RecursionError" in e for e in errors()))
            await until(lambda: len(health(receiver)) == 1)
            assert "RecursionError" in health(receiver)[0]["text"]
            assert service.rules.rules.topic("harbour") is None  # what runs goes on
            # The files did not change since: nothing is tried. The next edit is.
            put(harbour, HARBOUR + "# edited\n")
            await until(lambda: errors() == [] and len(health(receiver)) == 2)
            assert health(receiver)[1]["title"] == "reload works again"
            assert service.rules.rules.topic("harbour") is not None
        finally:
            service._stop.set()
        return await running

    assert asyncio.run(scenario()) == 0


def test_stories_a_crash_left_unmatched_are_matched_on_start_and_alerted_once(
    env: Env, feed_server: FeedServer
) -> None:
    config, _, receiver, box, _ = env
    loaded = load_config(config)
    # What a crash between storing and matching leaves: the story, marked to be matched.
    now = datetime.now(UTC)
    archive = SQLiteArchive(loaded.archive_url.removeprefix("sqlite:///"))
    archive.sync_feeds(loaded.feeds, now, replan=replanner(loaded.schedule))
    headline = "Envoys Agree to Resume Rights Talks"
    left = builders.entry(
        url="https://news.example/left",
        guid="item-left",
        headline=headline,
        body=STORY,
        published=now,
        text_hash="left",
    )
    assert archive.store_entries(loaded.feeds[0].url, [left], now, mark=True).unmatched
    archive.close()

    def polled_since(count: int) -> Callable[[], bool]:
        return lambda: len(feed_server.requests_to("/live.xml")) >= count + 2

    for run in range(2):  # the second start finds nothing left to match or to send
        proc = start(config)
        try:
            wait_for(lambda: len(receiver.ids) >= 1 and len(box.messages) >= 1, WAIT)
            wait_for(polled_since(len(feed_server.requests_to("/live.xml"))), WAIT)
        finally:
            code, stderr = stop(proc)
        assert code == 0, stderr
        assert alerts(receiver) == [("human rights dialogue", headline)], run
        assert len(set(receiver.ids)) == 1 and len(box.messages) == 1, run
