"""The ``monitor`` command line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from monitor import __version__, aio
from monitor.alerts.health import feed_health
from monitor.archive.export import export_stories
from monitor.archive.search import search as search_archive
from monitor.cli.alerts import alerts, deliver, deliver_now, notify, report_line
from monitor.cli.archive import archive, export_damaged
from monitor.cli.common import (
    APPLY_HINT,
    CONFIG_ENV,
    archive_of,
    config_failure,
    config_option,
    feed_drift,
    interval_of,
    load,
    since_start,
    when,
)
from monitor.cli.extract import extract
from monitor.cli.rules import checked_rules, highlight, match, rule_set, rules
from monitor.cli.service import run, status
from monitor.clock import utc_now
from monitor.config import Config, resolve_feed_url, suggest_url
from monitor.config.opml import Outline, add_feeds_to_config, read_opml, write_opml
from monitor.errors import ArchiveCorrupt, ConfigError, MonitorError
from monitor.fetch.fetcher import Fetcher
from monitor.notify import build_notifier
from monitor.parse.feed import ParsedFeed, parse_feed
from monitor.parse.sniff import linked_feeds
from monitor.poll.poller import Poller
from monitor.redact import redact_text, redact_url
from monitor.rules.parser import QueryError
from monitor.service.app import build_planner, build_poller
from monitor.service.logs import redact_uncaught, setup_logging
from monitor.text.normalize import format_story
from monitor.types import FeedOutcome, Story
from monitor.units import plural


@click.group()
@click.version_option(__version__, prog_name="monitor")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The configuration file, for every command [default: config.toml, or ${CONFIG_ENV}].",
)
def main(verbose: int, config_path: Path | None) -> None:
    """News monitor: polls feeds, archives stories, matches topics, sends alerts.

    Commands that only look (status, feeds, stories, show, search, export, check,
    archive check, match, rules, alerts) never change the archive; run, poll, deliver,
    alerts retry and notify test do.
    """
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    setup_logging(level, replace=False)
    redact_uncaught()


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
        raise click.ClickException(plural(len(problems), "problem"))
    click.echo(
        f"{config.path}: OK ({plural(len(config.feeds), 'feed')}, "
        f"{plural(len(config.notifiers), 'notifier')})"
    )
    click.echo(f"{config.rules_path}: OK ({plural(len(compiled.topics), 'topic')})")


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Poll once and exit (what poll always does).")
@click.option(
    "--feed",
    "only",
    multiple=True,
    metavar="NAME|URL",
    help="Poll this configured feed now, due or not (repeatable); the others are left.",
)
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Archive and match the new stories, but alert none of them, now or later.",
)
def poll(config_path: Path, once: bool, only: tuple[str, ...], no_alerts: bool) -> None:
    """Poll every configured feed (or those named) once, archive and match new stories,
    send alerts.

    Applies the config file's feed list to the archive, as the service does.
    """
    config = load(config_path)
    urls = _chosen_feeds(config, only) if only else None
    # Broken rules stop the poll: stories archived without matching would never alert.
    rules = rule_set(config)
    planner = build_planner(config, lambda: rules)
    with archive_of(config, write=True) as archive:
        poller = build_poller(config, archive, planner=planner, alerts=not no_alerts)
        try:
            total = len(config.feeds) if urls is None else len(urls)
            summary = aio.run(_poll_with_progress(poller, total, urls))
        finally:
            poller.close()
        skipped = set(urls or ()) - {o.url for o in summary.outcomes}
        held = {s.url: s for s in archive.feed_states() if s.url in skipped}
        send = config.notifiers and not no_alerts
        report = deliver_now(config, archive, rules) if send else None
    for outcome in summary.outcomes:
        if outcome.error:
            shown = redact_url(outcome.url)
            click.echo(f"{outcome.status}: {shown}: {redact_text(outcome.error)}", err=True)
    for url in sorted(skipped):
        why = "retired: " + (held[url].last_error or "gone") if held[url].gone else "in a poll"
        click.echo(f"not polled: {redact_url(url)}: {redact_text(why)}", err=True)
    click.echo(
        f"polled {plural(len(summary.outcomes), 'feed')}: {summary.count('updated')} updated, "
        f"{summary.count('unchanged')} unchanged, {summary.count('failed')} failed, "
        f"{summary.count('gone')} gone; {plural(summary.new_stories, 'new story', 'new stories')}, "
        f"{summary.changed_stories} changed, {plural(summary.alerts, 'alert')}"
        + (f"; {plural(summary.articles, 'full article')}" if summary.articles else "")
        + (f", {summary.articles_retried} tried again" if summary.articles_retried else "")
    )
    if report is not None:
        for error in report.errors:
            click.echo(error, err=True)
        click.echo(report_line(report))


def _chosen_feeds(config: Config, wanted: tuple[str, ...]) -> list[str]:
    """The URLs of the configured feeds named (or at the URLs or paths) given; a value that
    matches none is an error naming it."""
    urls: list[str] = []
    for value in wanted:
        # A path may be written as in the config file (relative to it) or from here.
        forms = {value}
        for base in (config.base_dir, Path.cwd()):
            with contextlib.suppress(ValueError):
                forms.add(resolve_feed_url(value, base))
        found = [f.url for f in config.feeds if f.name == value or f.url in forms]
        if not found:
            raise click.BadParameter(
                f"no configured feed is named {redact_text(repr(value))} or has that URL "
                "(see `monitor feeds`)",
                param_hint="'--feed'",
            )
        urls.extend(u for u in found if u not in urls)
    return urls


async def _poll_with_progress(poller: Poller, total: int, urls: list[str] | None) -> Any:
    if not sys.stderr.isatty():
        return await poller.poll(all_feeds=True, urls=urls)
    with click.progressbar(length=total, label="polling", file=sys.stderr) as bar:

        def advance(_: FeedOutcome) -> None:
            bar.update(1)

        return await poller.poll(all_feeds=True, progress=advance, urls=urls)


@main.group(invoke_without_command=True)
@config_option
@click.pass_context
def feeds(ctx: click.Context, config_path: Path) -> None:
    """List feeds with their health (or add one, import/export them as OPML)."""
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path)
    zone = config.schedule.zone
    with archive_of(config) as archive:
        states = archive.feed_states()
    for s in states:
        stories = plural(s.story_count, "story", "stories")
        click.echo(
            f"{feed_health(s):<12} {stories:>12}  last ok {when(s.last_success, zone)}  "
            f"next {when(s.next_poll, zone)}  {interval_of(config, s)}  {s.name}  "
            f"<{redact_url(s.url)}>"
        )
        if s.fetch_url != s.url:
            click.echo(f"{'':<12} moved permanently to {redact_url(s.fetch_url)}")
        if s.last_error:  # stored redacted; an archive from before may hold it whole
            click.echo(f"{'':<12} last error: {redact_text(s.last_error)}")
    drift = feed_drift(config.feeds, states)
    if drift:
        click.echo(f"\n{config_path} differs from the feeds being polled ({APPLY_HINT}):")
        for line in drift:
            click.echo(line)


@feeds.command("import")
@config_option
@click.argument("opml_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def feeds_import(config_path: Path, opml_file: Path) -> None:
    """Add the feeds of an OPML export to the configuration.

    Outlines that cannot be imported are skipped, each named with the reason; the others
    are added.
    """
    try:
        found = read_opml(opml_file.read_bytes(), source=str(opml_file))
        result = add_feeds_to_config(config_path, found)
    except ConfigError as exc:
        raise config_failure(exc) from exc
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    parts = [f"{len(result.added)} added to {config_path}"]
    if result.known:
        parts.append(f"{len(result.known)} configured already")
    if result.skipped:
        parts.append(f"{len(result.skipped)} skipped")
    click.echo(f"{plural(len(found), 'feed')} in {opml_file}: {', '.join(parts)}")
    for outline, reason in result.skipped:
        what = redact_text(repr(outline.title or outline.url or "(untitled)"))
        click.echo(f"  skipped {what}: {redact_text(reason)}")


@feeds.command("add")
@config_option
@click.argument("url")
@click.option("--name", help="The feed's name (default: its title).")
@click.option(
    "--pick",
    type=click.IntRange(min=1),
    help="When URL is a page linking several feeds: add the Nth (default: the first).",
)
def feeds_add(config_path: Path, url: str, name: str | None, pick: int | None) -> None:
    """Add the feed at URL, or the feed a web page at URL links, to the configuration."""
    config = load(config_path)
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise click.ClickException(f"not a URL: {redact_url(url)} ({exc})") from None
    if scheme not in ("http", "https"):
        meant = suggest_url(url)
        hint = f'; did you mean "{meant}"?' if meant else ""
        raise click.ClickException(f"not an http(s) URL: {redact_url(url)}{hint}")
    try:
        feed_url, parsed = aio.run(_discover(config, url, pick))
        result = add_feeds_to_config(
            config_path, [Outline(title=name or parsed.title.strip(), url=feed_url)]
        )
    except ConfigError as exc:
        raise config_failure(exc) from exc
    except MonitorError as exc:
        raise click.ClickException(redact_text(str(exc))) from exc
    click.echo(f"{redact_text(parsed.title or '(untitled)')} <{redact_url(feed_url)}>")
    for feed in result.added:
        click.echo(f"added to {config_path} as {feed.name!r}")
    if result.known:
        click.echo(f"configured already in {config_path}")
    for _, reason in result.skipped:
        raise click.ClickException(f"not added: {redact_text(reason)}")


async def _discover(config: Config, url: str, pick: int | None) -> tuple[str, ParsedFeed]:
    """The URL of the feed at ``url`` (or the one the page there links), and the feed."""
    feed_url = url
    async with Fetcher(config.fetch) as fetcher:
        result = await fetcher.fetch(url)
        linked = linked_feeds(result.body or b"", url=result.url)
        if linked:
            n = len(linked)
            click.echo(f"{redact_url(result.url)} is a page linking {plural(n, 'feed')}:")
            for i, feed in enumerate(linked, 1):
                title = f"{redact_text(feed.title)} " if feed.title else ""
                click.echo(f"  {i}. {title}<{redact_url(feed.url)}>")
            if (pick or 1) > n:
                raise click.ClickException(f"--pick {pick}: the page links {plural(n, 'feed')}")
            feed_url = linked[(pick or 1) - 1].url
            if n > 1:
                click.echo(f"adding {pick or 1}" + ("" if pick else " (--pick N for another)"))
            result = await fetcher.fetch(feed_url)
        elif pick is not None:
            raise click.ClickException(f"--pick: {redact_url(url)} is not a page linking feeds")
    parsed = parse_feed(result.body or b"", url=result.url, headers=result.headers, now=utc_now())
    return result.permanent_url or feed_url, parsed


@feeds.command("export")
@config_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
def feeds_export(config_path: Path, output: Path | None) -> None:
    """Write the configured feeds as OPML (to standard output by default)."""
    config = load(config_path)
    data = write_opml(config.feeds, title="news monitor feeds", now=utc_now())
    if output is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        output.write_bytes(data)


def _story_line(story: Story, zone: tzinfo) -> str:
    also = f" (+{len(story.sources) - 1} more)" if len(story.sources) > 1 else ""
    source = story.sources[0] if story.sources else "-"
    return f"{story.id}  {when(story.published, zone)}  {source}{also}  {story.headline}"


@main.command()
@config_option
@click.option("-n", "--limit", default=20, show_default=True)
@click.option("--since", help='Only stories first seen within this time, e.g. "7d".')
def stories(config_path: Path, limit: int, since: str | None) -> None:
    """List recent stories, newest first; * marks those an alert was sent for."""
    config = load(config_path)
    start = since_start(since)
    with archive_of(config) as archive:
        found = archive.recent_stories(limit=limit, since=start)
        alerted = archive.alerted_stories([s.seq for s in found])
    for story in found:
        mark = "*" if story.seq in alerted else " "
        story_id, rest = _story_line(story, config.schedule.zone).split("  ", 1)
        click.echo(f"{story_id} {mark} {rest}")


@main.command()
@config_option
@click.argument("story_id")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object with the story's archive record."
)
def show(config_path: Path, story_id: str, as_json: bool) -> None:
    """Print one story (an id prefix is enough): its link, time, sources and the topics it
    matched, then the story in story format."""
    config = load(config_path)
    with archive_of(config) as archive:
        story = archive.get_story(story_id)
        topics = archive.story_topics(story.seq)
    zone = config.schedule.zone
    if not as_json:
        text = story.content_source + (f" ({story.article_error})" if story.article_error else "")
        fields = [
            ("id", story.id),
            ("link", redact_url(story.url)),
            ("published", when(story.published, zone)),
            ("first seen", when(story.first_seen, zone)),
            ("sources", ", ".join(story.sources) or "-"),
            ("topics", ", ".join(topics) or "-"),
            ("text", text),
        ]
        for name, value in fields:
            click.echo(f"{name + ':':<12}{value}")
        click.echo()
        click.echo(format_story(story.headline, story.paragraphs), nl=False)
        return
    record = {
        "id": story.id,
        "url": story.url,
        "headline": story.headline,
        "body": story.body,
        # In the configured time zone, with its offset: the same instants, read locally.
        "published": story.published.astimezone(zone).isoformat(),
        "first_seen": story.first_seen.astimezone(zone).isoformat(),
        "updated": story.updated.astimezone(zone).isoformat(),
        "sources": list(story.sources),
        "topics": topics,
        "content_source": story.content_source,  # "feed" or "article"
        "article_error": story.article_error,  # why the article page's text is not used
    }
    click.echo(json.dumps(record, ensure_ascii=False))


@main.command()
@config_option
@click.argument("query")
@click.option("-n", "--limit", default=20, show_default=True)
def search(config_path: Path, query: str, limit: int) -> None:
    """Search the archive with a query in the rule language (docs/rules.md): what a topic
    with that query would match, best or newest first, with the matched terms marked."""
    config = load(config_path)
    try:
        with archive_of(config) as archive:
            found = search_archive(archive, query, limit=limit)
    except QueryError as exc:
        raise click.ClickException(f"{exc.message}\n  {query}\n  {' ' * exc.offset}^") from None
    color = sys.stdout.isatty()
    for hit in found:
        headline = hit.story.headline
        line = _story_line(hit.story, config.schedule.zone).removesuffix(headline)
        in_title = [t.span for t in hit.terms if t.field == "title"]
        click.echo(line + highlight(headline, in_title, color=color))
        click.echo(f"    {highlight(hit.snippet, list(hit.spans), color=color)}")
    if not found:
        click.echo("no stories found", err=True)


@main.command()
@config_option
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--since", help='Only stories first seen in this past duration, e.g. "30d".')
@click.option("--topic", "topic", help="Only stories that matched this topic.")
def export(config_path: Path, directory: Path, since: str | None, topic: str | None) -> None:
    """Write the stories as NNN_<id>.txt in story format, with index.jsonl beside them (a
    line per file: id, link, times, sources, topics).

    From a damaged archive, the stories that can still be read: it says how many rows
    were skipped, and exits with status 1 if any were.
    """
    config = load(config_path)
    start = since_start(since)
    written: list[Path] = []
    try:
        with archive_of(config) as archive:
            stories = archive.iter_stories(since=start)
            if topic is not None:
                stories = (s for s in stories if topic in archive.story_topics(s.seq))
            total = archive.count_stories(since=start)
            count = export_stories(
                stories, directory, total=total, written=written, topics=archive.story_topics
            )
    except click.ClickException as exc:
        if not isinstance(exc.__cause__, ArchiveCorrupt):
            raise
        export_damaged(config.archive_url, exc.__cause__, directory, written)
        return
    click.echo(f"wrote {plural(count, 'story', 'stories')} to {directory}")


@main.command()
@config_option
@click.option(
    "--older-than",
    help='Prune stories first seen longer ago than this ("90d"), instead of [archive] keep.',
)
@click.option("--dry-run", is_flag=True, help="Only count the stories that would go.")
@click.option(
    "--vacuum",
    is_flag=True,
    help="Then give the space back to the disk (slow; best while the service is stopped).",
)
def prune(config_path: Path, older_than: str | None, dry_run: bool, vacuum: bool) -> None:
    """Delete old stories now, as the service's retention does ([archive] keep and
    keep_matched): matched stories are kept for keep_matched, or for ever without it."""
    config = load(config_path)
    keep = None
    if older_than is not None:
        start = since_start(older_than)
        keep = None if start is None else (utc_now() - start).total_seconds()
    now = utc_now()
    try:
        before, matched_before = config.retention.cutoffs(now, keep)
    except ValueError:
        raise click.UsageError(
            "nothing to prune by: set [archive] keep or give --older-than"
        ) from None
    with archive_of(config, write=True) as archive:
        count = archive.prune(before, matched_before=matched_before, now=now, dry_run=dry_run)
        if vacuum and not dry_run:
            archive.vacuum()
    stories = plural(count, "story", "stories")
    click.echo(f"would prune {stories}" if dry_run else f"pruned {stories}")


for command in (rules, match, alerts, deliver, notify, run, status, extract, archive):
    main.add_command(command)
