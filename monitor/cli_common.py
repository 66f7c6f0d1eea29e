"""Pieces shared by the command modules: the --config option, loading, the archive."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from monitor.archive import Archive, open_archive
from monitor.config import Config, load_config
from monitor.errors import MonitorError
from monitor.schedule import explain
from monitor.types import Feed, FeedState

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=Path("config.toml"),
        show_default=True,
        envvar="MONITOR_CONFIG",
        help="The configuration file.",
    )(func)


def load(config_path: Path) -> Config:
    try:
        return load_config(config_path)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc


@contextmanager
def archive_of(config: Config) -> Iterator[Archive]:
    try:
        archive = open_archive(config.archive_url)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield archive
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        archive.close()


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def interval_of(config: Config, state: FeedState) -> str:
    """A feed's effective interval and why ("every 15m (default)"), as configured now."""
    feed = next((f for f in config.feeds if f.url == state.url), None)
    return explain(feed or Feed(url=state.url, name=state.name), state, config.schedule)
