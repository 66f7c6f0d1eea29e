"""Pieces shared by the command modules: the --config option, loading, the archive."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor.archive import Archive, open_archive
from monitor.clock import utc_now
from monitor.config import Config, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.poll.schedule import explain, replan
from monitor.redact import redact_url
from monitor.types import Feed, FeedState
from monitor.units import parse_duration, plural

F = TypeVar("F", bound=Callable[..., Any])
CONFIG_ENV = "MONITOR_CONFIG"
APPLY_HINT = "`monitor run` applies it when it reloads the file; `monitor poll` applies it now"


def _config_path(ctx: click.Context, _: click.Parameter, value: Path | None) -> Path:
    """``--config`` after the command, else before it (``monitor --config X status``), else
    ``$MONITOR_CONFIG``, else ``config.toml``."""
    if value is not None:
        return value
    parent = ctx.parent
    while parent is not None:
        given = parent.params.get("config_path")
        if given is not None:
            return Path(given)
        parent = parent.parent
    return Path(os.environ.get(CONFIG_ENV) or "config.toml")


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        callback=_config_path,
        help=(
            "The configuration file [default: the one given before the command, "
            f"${CONFIG_ENV}, or config.toml]."
        ),
    )(func)


def load(config_path: Path) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise config_failure(exc) from exc


def config_failure(exc: ConfigError) -> click.ClickException:
    """Every mistake on a line of its own, then the exception that ends the command."""
    problems = exc.problems
    if len(problems) == 1:
        return click.ClickException(str(exc))
    for problem in problems:
        click.echo(str(problem), err=True)
    return click.ClickException(f"{plural(len(problems), 'mistake')} in {exc.path}")


@contextmanager
def archive_of(config: Config, *, write: bool = False) -> Iterator[Archive]:
    """The configured archive; read-only unless the command is one that changes it.

    Only the service, ``poll``, ``deliver``, ``alerts retry`` and ``notify test`` (which
    re-enables a notifier) write: a command that looks must not apply the configuration
    on disk to the archive a running service uses, nor create an archive.
    """
    with archive_at(config.archive_url, write=write) as archive:
        yield archive


def archive_exists(config: Config) -> bool:
    """Whether the configured archive exists (a shared database always does)."""
    if not config.archive_url.startswith("sqlite:///"):
        return True
    return Path(config.archive_url.removeprefix("sqlite:///")).is_file()


@contextmanager
def archive_at(url: str, *, write: bool = False) -> Iterator[Archive]:
    try:
        archive = open_archive(url, read_only=not write)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield archive
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        archive.close()


def when(value: datetime | None, zone: tzinfo = UTC) -> str:
    """A time as the commands show it, in the configured time zone."""
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "-"


def feed_drift(configured: Sequence[Feed], states: Sequence[FeedState]) -> list[str]:
    """How the feeds in the config file differ from those the archive schedules.

    The archive holds what was last applied (by ``monitor run`` or ``monitor poll``);
    commands that only look never apply the file, so they say what differs instead.
    """
    active = {s.url for s in states}
    wanted = {f.url for f in configured}
    lines = [
        f"  + {f.name} <{redact_url(f.url)}>: in the config file, not applied yet"
        for f in configured
        if f.url not in active
    ]
    lines += [
        f"  - {s.name} <{redact_url(s.url)}>: polled, but no longer in the config file"
        for s in states
        if s.url not in wanted
    ]
    return lines


def interval_of(config: Config, state: FeedState) -> str:
    """A feed's interval and why ("every 15m (default)") under the config file, marked when
    the archive's schedule does not follow it yet (commands that only look never apply it;
    the service does at once, `monitor poll` when it runs)."""
    feed = next((f for f in config.feeds if f.url == state.url), None)
    feed = feed or Feed(url=state.url, name=state.name)
    shown = explain(feed, state, config.schedule)
    plan = replan(feed, state, config.schedule)
    unapplied = plan is not None and state.next_poll is not None and plan.due != state.next_poll
    return f"{shown}, not applied yet" if unapplied else shown


def since_start(since: str | None) -> datetime | None:
    """When a ``--since`` duration back from now began; None without one."""
    if not since:
        return None
    try:
        return utc_now() - timedelta(seconds=parse_duration(since))
    except (ValueError, OverflowError):  # OverflowError: before the year 1
        raise click.BadParameter(f'expected a duration like "30d", got {since!r}') from None
