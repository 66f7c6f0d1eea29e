"""``monitor archive check`` and ``copy``, and ``monitor export`` from a damaged archive."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from monitor.archive.copy import copy_to_postgres
from monitor.archive.export import export_stories
from monitor.archive.sqlite_check import Salvage, check_archive
from monitor.cli.common import config_option, load
from monitor.errors import ArchiveCorrupt, MonitorError
from monitor.redact import redact_url
from monitor.service.lock import ArchiveLock
from monitor.units import plural


def _sqlite_path(url: str, why: str = "a database server has its own tools") -> Path:
    if not url.startswith("sqlite:///"):
        raise click.ClickException(f"only a SQLite archive is looked after here; {why}")
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


@archive.command("copy")
@config_option
@click.option(
    "--to",
    "target",
    required=True,
    metavar="postgresql://USER@HOST/DATABASE",
    help="The new, empty PostgreSQL database to copy the archive into.",
)
def archive_copy(config_path: Path, target: str) -> None:
    """Copy the SQLite archive into PostgreSQL, for several workers to share.

    Every table goes, feed state and the outbox included, in one transaction; the counts
    of rows are compared at the end. Stop `monitor run` first (what it writes after the
    copy would not be in it), then set [archive] url to the new database.
    """
    config = load(config_path)
    path = _sqlite_path(config.archive_url, "it is copied from SQLite")
    if not target.startswith(("postgresql://", "postgres://")):
        raise click.ClickException("--to takes a postgresql:// URL")
    holder = ArchiveLock.for_url(config.archive_url).holder()
    if holder is not None:
        raise click.ClickException(
            f"`monitor run` (pid {holder}) is using the archive: stop it first, or what it "
            "writes after the copy would not be in the copy"
        )
    shown = redact_url(target)
    try:
        counts = copy_to_postgres(path, target)
    except MonitorError as exc:
        raise click.ClickException(f"nothing was copied: {exc}") from exc
    for copied in counts:
        click.echo(f"  {copied.table}: {copied.target:,}")
    click.echo(
        f"copied {path} to {shown}; every table holds as many rows as in the archive.\n"
        f'Now set [archive] url = "{shown}" in {config_path} (give the password by '
        "environment: PGPASSWORD)."
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
