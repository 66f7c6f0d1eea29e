"""``monitor archive check``, and ``monitor export`` from a damaged archive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from monitor.archive.export import export_stories
from monitor.archive.sqlite_check import Salvage, check_archive
from monitor.cli.common import config_option, load
from monitor.errors import ArchiveCorrupt, MonitorError
from monitor.service.lock import ArchiveLock
from monitor.units import plural


def _sqlite_path(url: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise click.ClickException(
            "only a SQLite archive is checked here; a database server has its own tools"
        )
    return Path(url.removeprefix("sqlite:///"))


@click.group()
def archive() -> None:
    """Look after the archive file."""


@archive.command("check")
@config_option
@click.option(
    "--quick", is_flag=True, help="SQLite's quick_check: faster; indexes are not compared."
)
def archive_check(config_path: Path, quick: bool) -> None:
    """Check the archive for damage; exit status 1 when something is wrong.

    Runs SQLite's integrity check, looks for rows whose parent row is missing, and checks
    the full-text index against the stories. Only reads; the full-text index is checked
    only while `monitor run` is stopped (SQLite checks it inside a write transaction,
    which would hold up the service's writes meanwhile).
    """
    config = load(config_path)
    path = _sqlite_path(config.archive_url)
    holder = ArchiveLock.for_url(config.archive_url).holder()
    try:
        result = check_archive(path, quick=quick, full_text=holder is None)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    checked = ", ".join(result.checked)
    if not result.problems:
        click.echo(f"{path}: OK ({checked})")
    else:
        click.echo(f"{path}: {plural(len(result.problems), 'problem')} ({checked}):")
        for problem in result.problems:
            click.echo(f"  {problem}")
    for what in result.not_checked:
        click.echo(
            f"  not checked: {what}: `monitor run` (pid {holder}) is using the archive; "
            "stop it to check this too"
        )
    if result.problems:
        raise click.ClickException(
            "the archive is damaged: `monitor export DIR` saves the stories it can still read"
        )


def export_damaged(
    url: str, fault: ArchiveCorrupt, directory: Path, written: Sequence[Path]
) -> None:
    """Export again, reading the damaged archive one story at a time; exit status 1 when
    some could not be read. The files a first attempt wrote are replaced."""
    if not url.startswith("sqlite:///"):
        raise click.ClickException(str(fault)) from fault
    click.echo(
        f"{fault.path}: the archive is damaged ({fault.detail}); saving what can be read", err=True
    )
    for path in written:  # numbered for the whole archive; renumbered below
        path.unlink(missing_ok=True)
    try:
        salvage = Salvage(_sqlite_path(url))
    except MonitorError as exc:
        raise click.ClickException(f"nothing can be read: {exc}") from exc
    try:
        count = export_stories(salvage, directory, total=salvage.total)
    finally:
        salvage.close()
    click.echo(f"wrote {plural(count, 'story', 'stories')} to {directory}")
    if salvage.skipped:
        raise click.ClickException(
            f"{plural(salvage.skipped, 'damaged row')} skipped: those stories are not in "
            f"{directory} (`monitor archive check` lists the damage)"
        )
