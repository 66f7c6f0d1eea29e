"""The command line's options and wording: --config anywhere, $MONITOR_CONFIG, poll, plurals,
times in the configured zone."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import main
from tests.cli_project import run

ONE_ITEM = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>One</title>
<item><title>Envoys Agree to Resume Rights Talks</title>
<link>https://news.example/1</link><guid>one-1</guid>
<pubDate>Wed, 31 Jul 2002 09:30:00 GMT</pubDate>
<description>Envoys said on Monday that the two governments would resume their dialogue on
human rights next month, after a pause of two years.</description></item>
</channel></rss>
"""


def invoke(args: list[str], env: dict[str, str] | None = None, code: int = 0) -> str:
    result = CliRunner(env=env).invoke(main, args, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_config_before_the_command_and_from_the_environment(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text(
        '[rules]\npath = "rules"\n\n[notifiers.console]\ntype = "console"\n', encoding="utf-8"
    )
    assert f"{project}: OK (2 feeds" in invoke(["--config", str(project), "check"])
    assert f"{project}: OK (2 feeds" in invoke(["check"], env={"MONITOR_CONFIG": str(project)})
    # The nearest wins: after the command, then before it, then the environment.
    assert f"{other}: OK (0 feeds" in invoke(
        ["--config", str(project), "check", "--config", str(other)],
        env={"MONITOR_CONFIG": str(project)},
    )
    assert f"{other}: OK (0 feeds" in invoke(
        ["--config", str(other), "check"], env={"MONITOR_CONFIG": str(project)}
    )
    # Groups pass it on to their commands.
    opml = tmp_path / "subs.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline type="rss" text="W" xmlUrl="https://w.example/rss"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    assert f"1 added to {other}" in invoke(["--config", str(other), "feeds", "import", str(opml)])
    assert "1 configured already" in invoke(["feeds", "--config", str(other), "import", str(opml)])
    exported = invoke(["feeds", "export"], env={"MONITOR_CONFIG": str(project)})
    assert "Example Wire Service" in exported


def test_poll_polls_once_without_once(project: Path) -> None:
    assert "polled 2 feeds: 2 updated" in run(project, "poll")
    assert "polled 2 feeds: 0 updated, 2 unchanged" in run(project, "poll", "--once")


def test_one_of_a_kind_is_singular(tmp_path: Path, project: Path) -> None:
    feed = tmp_path / "one.xml"
    feed.write_text(ONE_ITEM, encoding="utf-8")
    project.write_text(
        '[[feeds]]\nurl = "one.xml"\nname = "One"\nbacklog_alerts = "all"\n\n'
        '[notifiers.console]\ntype = "console"\n',
        encoding="utf-8",
    )
    assert "OK (1 feed, 1 notifier)" in run(project, "check")
    out = run(project, "poll")
    assert "polled 1 feed: 1 updated, 0 unchanged, 0 failed, 0 gone; 1 new story, 0 changed, " in (
        out
    )
    assert "delivered 1 message;" in out
    assert re.match(r"ok +1 story  last ok ", run(project, "feeds"))
    assert f"wrote 1 story to {tmp_path / 'out'}" in run(project, "export", str(tmp_path / "out"))
    backtest = run(project, "rules", "test", "--since", "3650d")
    assert "1 story first seen since" in backtest
    assert "human rights dialogue: 1 hit\n" in backtest and "MFN: 0 hits\n" in backtest
    two = ONE_ITEM.replace("</channel>", ONE_ITEM.split("<channel>")[1].split("</channel>")[0])
    feed.write_text(two.replace("one-1", "one-2", 1).replace("news.example/1", "news.example/2", 1))
    assert "1 new story" in run(project, "poll")
    assert re.match(r"ok +2 stories  last ok ", run(project, "feeds"))


def test_times_are_shown_in_the_configured_zone(project: Path) -> None:
    project.write_text(
        project.read_text(encoding="utf-8").replace(
            "[schedule]\n", '[schedule]\ntimezone = "Europe/Berlin"\n'
        ),
        encoding="utf-8",
    )
    run(project, "poll")
    stories = run(project, "stories")
    wire = next(line for line in stories.splitlines() if line.endswith("Resume Rights Talks"))
    assert " 2002-07-31 11:30  Example Wire Service  " in wire  # 09:30 UTC, summer time
    record = json.loads(run(project, "show", wire.split()[0], "--json"))
    assert record["published"] == "2002-07-31T11:30:00+02:00"
    assert "feeds (2; times in Europe/Berlin):" in run(project, "status")
