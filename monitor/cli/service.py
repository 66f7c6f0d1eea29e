"""``monitor run`` (the service) and ``monitor status``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from monitor.alerts.health import feed_health
from monitor.cli.common import (
    APPLY_HINT,
    archive_at,
    config_option,
    feed_drift,
    interval_of,
    load,
    when,
)
from monitor.clock import utc_now
from monitor.config import Config, archive_url_despite_errors, load_config, salvage_setting
from monitor.errors import ConfigError, MonitorError
from monitor.owner import owner_gone
from monitor.redact import redact_text, redact_url
from monitor.service.lock import ArchiveLock
from monitor.service.logs import setup_logging
from monitor.service.runner import WORKER_STATUS, Service
from monitor.units import plural

# A running worker of a shared archive says so every few seconds (its housekeeping tick).
WORKER_SILENT = timedelta(minutes=2)


@click.command()
@config_option
@click.pass_context
def run(ctx: click.Context, config_path: Path) -> None:
    """Run the service: poll on schedule, match, archive, alert. Stops on SIGTERM or Ctrl-C."""
    config = load(config_path)
    verbose = ctx.find_root().params.get("verbose", 0)
    level = logging.DEBUG if verbose > 1 else logging.INFO
    setup_logging(level, config.service.log_format)
    try:
        code = Service(config_path).run()
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    ctx.exit(code)


@click.command()
@config_option
@click.pass_context
def status(ctx: click.Context, config_path: Path) -> None:
    """Feed health, the outbox backlog, topic hit counts and the service's state.

    Only reads the archive. When the config file does not load, says why and still shows
    the service's state (exit status 1).
    """
    config: Config | None = None
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        archive_url, named = archive_url_despite_errors(config_path)
        zone = _zone_despite_errors(config_path)
        click.echo(f"config: {config_path} does not load:")
        for problem in exc.problems:
            click.echo(f"  {problem}")
        where = "its [archive] url" if named else "the default location"
        shown = redact_url(archive_url.removeprefix("sqlite:///"))
        click.echo(f"  (the archive shown is {shown}: {where})\n")
    else:
        archive_url, zone = config.archive_url, config.schedule.zone
    now = utc_now()
    with archive_at(archive_url) as archive:
        service = archive.status()
        states = archive.feed_states()
        rates = archive.stories_per_day(now - timedelta(days=7), now)
        counts = archive.outbox_counts()
        disabled = archive.disabled_notifiers()
        day = archive.topic_hits(now - timedelta(days=1))
        week = archive.topic_hits(now - timedelta(days=7))
        articles = archive.article_counts(now - timedelta(days=7))
        held = archive.held_matches()
    holder = ArchiveLock.for_url(archive_url).holder()
    workers = {
        key.removeprefix(WORKER_STATUS): value
        for key, value in service.items()
        if key.startswith(WORKER_STATUS)
    }
    if workers:  # a shared archive: each worker says how it is
        _echo_workers(workers, now, zone)
    elif holder is not None:
        click.echo(f"service: running (pid {holder})")
    else:
        last = service.get("state", "never run")
        click.echo(
            f"service: not running (last state: {last})"
            if last == "running"
            else f"service: {last}"
        )
    reloading = service.get("reloading")
    if holder is not None and reloading:  # a large rule set takes a while to compile
        since = datetime.fromisoformat(reloading).astimezone(zone)
        click.echo(f"  reloading the edited configuration and rules (since {since:%H:%M:%S})")
    for error in service.get("reload_errors", []):
        shown = redact_text(error)  # stored redacted; an archive from before may hold it whole
        click.echo(f"  reload error (the previous configuration keeps running): {shown}")
    for topic, reason in sorted(service.get("digest_errors", {}).items()):
        click.echo(f"  digest of topic {topic!r} failing: {reason}")
    click.echo(f"\nfeeds ({len(states)}; times in {zone}):")
    for s in states:
        click.echo(
            f"  {feed_health(s):<12} {rates.get(s.url, 0.0):6.1f}/day  last poll "
            f"{when(s.last_polled, zone)}  next {when(s.next_poll, zone)}  "
            f"{interval_of(config, s) if config is not None else '-'}  {s.name}"
        )
        if s.last_error:
            click.echo(f"  {'':12} last error: {redact_text(s.last_error)}")
    drift = feed_drift(config.feeds, states) if config is not None else []
    if drift:
        click.echo(f"\n{config_path} differs from the feeds being polled ({APPLY_HINT}):")
        for line in drift:
            click.echo(line)
    wants_articles = config is not None and any(f.full_article != "never" for f in config.feeds)
    if wants_articles or articles["article"] + articles["feed"]:
        click.echo(
            f"\nfull articles (last week): {articles['article']} from the page, "
            f"{articles['feed']} kept the feed's text ({articles['waiting']} to be tried again)"
        )
        errors = sorted(
            ((n, key[7:]) for key, n in articles.items() if key.startswith("error: ")), reverse=True
        )
        for n, reason in errors[:5]:
            click.echo(f"  {n:5d}  {reason}")
    click.echo(
        f"\noutbox: {counts.get('pending', 0)} pending, {counts.get('dead', 0)} dead, "
        f"{counts.get('sent', 0)} sent"
    )
    for name, reason in disabled.items():
        click.echo(f"  notifier {name} disabled: {reason}")
    for topic, (count, reason) in sorted(held.items()):
        click.echo(
            f"  topic {topic!r}: alerts for {plural(count, 'story', 'stories')} held back "
            f"({reason}); they go out once that is fixed"
        )
    click.echo("\ntopics (hits in the last day / week):")
    for topic in sorted(set(week) | set(day)):
        click.echo(f"  {day.get(topic, 0):5d} / {week.get(topic, 0):5d}  {topic}")
    if not week:
        click.echo("  none yet")
    if config is None:
        ctx.exit(1)


def _zone_despite_errors(config_path: Path) -> tzinfo:
    name = salvage_setting(config_path, "schedule", "timezone")
    try:
        return ZoneInfo(name) if isinstance(name, str) else UTC
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


def _echo_workers(workers: dict[str, dict[str, Any]], now: datetime, zone: tzinfo) -> None:
    """The workers of a shared archive seen in the last day: running (heard from within
    WORKER_SILENT), stopped, or silent since when (killed, or its machine is down)."""
    shown = []
    for owner, status in sorted(workers.items()):
        seen = datetime.fromisoformat(status["seen"]) if status.get("seen") else None
        if seen is None or now - seen > timedelta(days=1):
            continue
        if status.get("state") == "stopped":
            state = f"stopped at {seen.astimezone(zone):%Y-%m-%d %H:%M:%S}"
        elif owner_gone(owner):  # a process of this machine that is no more
            state = f"ended without stopping (last heard from {seen.astimezone(zone):%H:%M:%S})"
        elif now - seen <= WORKER_SILENT:
            state = "running"
        else:
            state = f"silent since {seen.astimezone(zone):%Y-%m-%d %H:%M:%S}"
        shown.append((owner, state, status))
    running = sum(1 for _, state, _ in shown if state == "running")
    click.echo(f"service: {plural(running, 'worker')} running on the shared archive")
    for owner, state, status in shown:
        click.echo(f"  worker {owner}: {state}")
        for error in status.get("reload_errors", []):
            click.echo(f"    reload error (its previous configuration keeps running): {error}")
        for topic, reason in sorted(status.get("digest_errors", {}).items()):
            click.echo(f"    digest of topic {topic!r} failing: {reason}")
