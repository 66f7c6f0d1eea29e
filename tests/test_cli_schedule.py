"""`monitor feeds` and `monitor status` say each feed's interval and why; `poll --feed`."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from tests.cli_project import run

WORLD = "Example World News"
WIRE = "Example Wire Service"


def line_of(output: str, name: str) -> str:
    (line,) = [line for line in output.splitlines() if f"  {name}" in line]
    return line


def times(line: str) -> list[datetime]:
    return [datetime.fromisoformat(t) for t in re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d", line)]


def test_feeds_show_the_effective_interval_and_why(project: Path) -> None:
    run(project, "poll", "--once")
    listing = run(project, "feeds")
    # The sample feed without an interval runs at the default (15 m, less its spread),
    # not at a day computed from its weekly items.
    assert re.search(r"next \S+ \S+  every 1[34]m(\d+s)? \(default\)  Example World News", listing)
    assert "every 30m (configured)  Example Wire Service" in listing
    world = line_of(listing, WORLD)
    last_ok, next_poll = times(world)
    # Both times are shown to the minute: the gap between them is known to within one.
    assert 12.5 * 60 <= (next_poll - last_ok).total_seconds() <= 16 * 60

    # An edited interval shows at once, marked until something applies it (the service does
    # on reload; `monitor poll` here); then the next poll follows it.
    text = project.read_text().replace('interval = "30m"', 'interval = "2h"')
    project.write_text(text, encoding="utf-8")
    assert "every 2h (configured), not applied yet" in line_of(run(project, "feeds"), WIRE)
    run(project, "poll", "--feed", WORLD)
    wire = line_of(run(project, "feeds"), WIRE)
    assert "every 2h (configured)  " in wire
    last_ok, next_poll = times(wire)
    assert (next_poll - last_ok).total_seconds() == 2 * 3600

    status = run(project, "status")
    assert "every 2h (configured)  Example Wire Service" in status
    assert re.search(r"every 1[34]m(\d+s)? \(default\)  Example World News", status)


def test_adaptive_is_shown_with_the_publishing_rate(project: Path) -> None:
    # The sample world feed publishes every few days: adaptive changes nothing for it.
    text = project.read_text().replace("[schedule]\n", "[schedule]\nadaptive = true\n")
    project.write_text(text, encoding="utf-8")
    run(project, "poll", "--once")
    assert "(default)  Example World News" in run(project, "feeds")


def test_a_failing_feed_shows_its_backoff(project: Path) -> None:
    (project.parent / "samples" / "feeds" / "wire.atom").write_text("not a feed")
    out = run(project, "poll", "--once")
    assert "failed: " in out
    wire = line_of(run(project, "feeds"), WIRE)
    assert wire.startswith("failing x1")
    assert "1h (backoff after 1 error)" in wire


def test_poll_one_feed_by_name_url_or_path(project: Path) -> None:
    out = run(project, "poll", "--feed", WIRE)
    assert "polled 1 feed: 1 updated" in out
    listing = run(project, "feeds")
    assert line_of(listing, WIRE).startswith("ok")
    assert line_of(listing, WORLD).startswith("new")

    world_url = (project.parent / "samples" / "feeds" / "world-news.xml").as_uri()
    out = run(project, "poll", "--feed", world_url, "--feed", WIRE)
    assert "polled 2 feeds: 1 updated, 1 unchanged" in out
    out = run(project, "poll", "--feed", "samples/feeds/world-news.xml")
    assert "polled 1 feed: 0 updated, 1 unchanged" in out


@pytest.mark.parametrize("args", [("--feed", "Nope"), ("--feed", WIRE, "--feed", "nope.xml")])
def test_poll_of_a_feed_not_configured_names_it(project: Path, args: tuple[str, ...]) -> None:
    out = run(project, "poll", *args, code=2)
    assert f"no configured feed is named {args[-1]!r}" in out
    assert "polled" not in out


def test_poll_without_options_polls_every_feed_once(project: Path) -> None:
    assert "polled 2 feeds: 2 updated" in run(project, "poll")
