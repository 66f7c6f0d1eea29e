"""The ``monitor`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from monitor import __version__
from monitor.alerts import AlertPlanner
from monitor.cli_alerts import alerts, deliver, deliver_now, notify, report_line
from monitor.cli_common import archive_of, config_option, load, when
from monitor.cli_extract import extract
from monitor.cli_rules import checked_rules, match, rule_set, rules
from monitor.cli_service import run, status
from monitor.errors import MonitorError
from monitor.export import export_stories
from monitor.ingest import Poller
from monitor.normalize import format_story
from monitor.notify import build_notifier
from monitor.opml import add_feeds_to_config, read_opml, write_opml
from monitor.types import FeedOutcome, FeedState, Story
from monitor.units import parse_duration


@click.group()
@click.version_option(__version__, prog_name="monitor")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """News monitor: polls feeds, archives stories, matches topics, sends alerts."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@config_option
def check(config_path: Path) -> None:
    """Validate the configuration and the rule files; exit non-zero on any error."""
    config = load(config_path)
    compiled, errors, unrouted = checked_rules(config)
    problems = [str(e) for e in (*errors, *unrouted)]
    for settings in config.notifiers.values():
        try:  # secrets present and well-formed (never printed)
            build_notifier(settings).close()
        except MonitorError as exc:
            problems.append(str(exc))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s)")
    click.echo(f"{config.path}: OK ({len(config.feeds)} feeds, {len(config.notifiers)} notifiers)")
    click.echo(f"{config.rules_path}: OK ({len(compiled.topics)} topics)")


@main.command()
@config_option
@click.option("--once", is_flag=True, required=True, help="Poll every feed once now and exit.")
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Archive and match the new stories, but alert none of them, now or later.",
)
def poll(config_path: Path, once: bool, no_alerts: bool) -> None:
    """Poll every configured feed once, archive and match new stories, send alerts."""
    config = load(config_path)
    # Broken rules stop the poll: stories archived without matching would never alert.
    rules = rule_set(config)
    planner = AlertPlanner(lambda: rules, config.feeds, list(config.notifiers))
    with archive_of(config) as archive:
        poller = Poller(config, archive, matcher=planner, alerts=not no_alerts)
        try:
            summary = asyncio.run(_poll_with_progress(poller, len(config.feeds)))
        finally:
            poller.close()
        send = config.notifiers and not no_alerts
        report = deliver_now(config, archive, rules) if send else None
    for outcome in summary.outcomes:
        if outcome.error:
            click.echo(f"{outcome.status}: {outcome.url}: {outcome.error}", err=True)
    click.echo(
        f"polled {len(summary.outcomes)} feeds: {summary.count('updated')} updated, "
        f"{summary.count('unchanged')} unchanged, {summary.count('failed')} failed, "
        f"{summary.count('gone')} gone; {summary.new_stories} new stories, "
        f"{summary.changed_stories} changed, {summary.alerts} alerts"
        + (f"; {summary.articles} full articles" if summary.articles else "")
        + (f", {summary.articles_retried} tried again" if summary.articles_retried else "")
    )
    if report is not None:
        for error in report.errors:
            click.echo(error, err=True)
        click.echo(report_line(report))


async def _poll_with_progress(poller: Poller, total: int) -> Any:
    if not sys.stderr.isatty():
        return await poller.poll(all_feeds=True)
    with click.progressbar(length=total, label="polling", file=sys.stderr) as bar:

        def advance(_: FeedOutcome) -> None:
            bar.update(1)

        return await poller.poll(all_feeds=True, progress=advance)


def _health(state: FeedState) -> str:
    if state.gone:
        return "gone"
    if state.error_count:
        return f"failing x{state.error_count}"
    return "ok" if state.last_success else "new"


@main.group(invoke_without_command=True)
@config_option
@click.pass_context
def feeds(ctx: click.Context, config_path: Path) -> None:
    """List feeds with their health (or import/export them as OPML)."""
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path)
    with archive_of(config) as archive:
        archive.sync_feeds(config.feeds, datetime.now(UTC))
        states = archive.feed_states()
    for s in states:
        click.echo(
            f"{_health(s):<12} {s.story_count:>6} stories  last ok {when(s.last_success)}  "
            f"next {when(s.next_poll)}  {s.name}  <{s.url}>"
        )
        if s.fetch_url != s.url:
            click.echo(f"{'':<12} moved permanently to {s.fetch_url}")
        if s.last_error:
            click.echo(f"{'':<12} last error: {s.last_error}")


@feeds.command("import")
@config_option
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def feeds_import(config_path: Path, opml_file: Path) -> None:
    """Add the feeds of an OPML export to the configuration."""
    try:
        found = read_opml(opml_file.read_bytes(), source=str(opml_file))
        added = add_feeds_to_config(config_path, found)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{len(found)} feeds in {opml_file}, {len(added)} added to {config_path}")


@feeds.command("export")
@config_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def feeds_export(config_path: Path, output: Path | None) -> None:
    """Write the configured feeds as OPML (to standard output by default)."""
    config = load(config_path)
    data = write_opml(config.feeds, title="news monitor feeds", now=datetime.now(UTC))
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)


def _story_line(story: Story) -> str:
    also = f" (+{len(story.sources) - 1} more)" if len(story.sources) > 1 else ""
    source = story.sources[0] if story.sources else "-"
    return f"{story.id}  {when(story.published)}  {source}{also}  {story.headline}"


@main.command()
@config_option
@click.option("-n", "--limit", default=20, show_default=True)
@click.option("--since", help='Only stories first seen within this time, e.g. "7d".')
def stories(config_path: Path, limit: int, since: str | None) -> None:
    """List recent stories."""
    config = load(config_path)
    start = None
    if since:
        try:
            start = datetime.now(UTC) - timedelta(seconds=parse_duration(since))
        except ValueError:
            raise click.BadParameter(f'expected a duration like "7d", got {since!r}') from None
    with archive_of(config) as archive:
        for story in archive.recent_stories(limit=limit, since=start):
            click.echo(_story_line(story))


@main.command()
@config_option
@click.argument("story_id")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object with the story's archive record."
)
def show(config_path: Path, story_id: str, as_json: bool) -> None:
    """Print one story in story format (an id prefix is enough)."""
    config = load(config_path)
    with archive_of(config) as archive:
        story = archive.get_story(story_id)
    if not as_json:
        click.echo(format_story(story.headline, story.paragraphs), nl=False)
        return
    record = {
        "id": story.id,
        "url": story.url,
        "headline": story.headline,
        "body": story.body,
        "published": story.published.isoformat(),
        "first_seen": story.first_seen.isoformat(),
        "updated": story.updated.isoformat(),
        "sources": list(story.sources),
        "content_source": story.content_source,  # "feed" or "article"
        "article_error": story.article_error,  # why the article page's text is not used
    }
    click.echo(json.dumps(record, ensure_ascii=False))


@main.command()
@config_option
@click.argument("query")
@click.option("-n", "--limit", default=20, show_default=True)
def search(config_path: Path, query: str, limit: int) -> None:
    """Full-text search of the archive (SQLite FTS5 query syntax)."""
    config = load(config_path)
    with archive_of(config) as archive:
        found = archive.search(query, limit=limit)
    for story in found:
        click.echo(_story_line(story))
    if not found:
        click.echo("no stories found", err=True)


@main.command()
@config_option
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(config_path: Path, directory: Path) -> None:
    """Write every story as NNN_<id>.txt in story format."""
    config = load(config_path)
    with archive_of(config) as archive:
        count = export_stories(archive.iter_stories(), directory, total=archive.count_stories())
    click.echo(f"wrote {count} stories to {directory}")


for command in (rules, match, alerts, deliver, notify, run, status, extract):
    main.add_command(command)
