"""Commands about alerts: ``monitor alerts``, ``alerts retry``, ``deliver``, ``notify test``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import click

from monitor.alerts.deliver import DeliveryReport, run_digests
from monitor.archive import Archive
from monitor.cli.common import archive_exists, archive_of, config_option, load, when
from monitor.cli.rules import checked_rules
from monitor.clock import utc_now
from monitor.config import Config
from monitor.errors import MonitorError, NotifyError
from monitor.notify import build_notifier
from monitor.notify.message import Message
from monitor.redact import redact_text
from monitor.rules import RuleSet
from monitor.service.app import build_deliverer, build_planner
from monitor.units import plural


def deliver_now(config: Config, archive: Archive, rules: RuleSet | None) -> DeliveryReport:
    """Make the alerts of held matches that can be routed now, turn due digests into
    messages, then send everything that is due. Without rules (they do not load), only
    what is in the outbox already is sent."""
    if rules is not None:
        planner = build_planner(config, lambda: rules)
        try:
            archive.release_held(planner.route, utc_now())
        except Exception as exc:  # what is pending goes out all the same
            click.echo(f"cannot release held alerts: {exc}", err=True)
        run = run_digests(archive, rules, utc_now(), zone=config.schedule.zone)
        for topic, reason in run.failed:
            click.echo(f"digest of topic {topic!r} failed: {reason}", err=True)
    try:
        deliverer = build_deliverer(config, archive)
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        return deliverer.run_once()
    finally:
        deliverer.close()


def report_line(report: DeliveryReport) -> str:
    # This command's memory ends with it: what could not be recorded goes out again.
    unrecorded = (
        f"; {plural(report.held, 'outcome')} not recorded (what was sent goes out again "
        "next time, under the same id)"
        if report.held
        else ""
    )
    return (
        f"delivered {plural(report.sent, 'message')}; {report.retrying} to retry, "
        f"{report.dead} dead, {report.deferred} deferred{unrecorded}"
    )


@click.command()
@config_option
def deliver(config_path: Path) -> None:
    """Send due digests and every pending alert now.

    Broken rule files are reported, and what is pending is sent all the same; digests
    wait until the rules load again.
    """
    config = load(config_path)
    rules, errors, unrouted = checked_rules(config)
    for error in (*errors, *unrouted):
        click.echo(str(error), err=True)
    with archive_of(config, write=True) as archive:
        report = deliver_now(config, archive, None if errors else rules)
    for problem in report.errors:
        click.echo(problem, err=True)
    click.echo(report_line(report))
    if errors or unrouted:
        later = "; digests wait until the rule files load" if errors else ""
        raise click.ClickException(
            f"{plural(len(errors) + len(unrouted), 'error')} in the rule files{later}"
        )


@click.group(invoke_without_command=True)
@config_option
@click.option("--all", "show_all", is_flag=True, help="Include alerts already sent.")
@click.pass_context
def alerts(ctx: click.Context, config_path: Path, show_all: bool) -> None:
    """List pending and dead alerts with their last error (or retry them)."""
    if ctx.invoked_subcommand is not None:
        return
    config = load(config_path)
    statuses = ["pending", "dead", "sent"] if show_all else ["pending", "dead"]
    zone = config.schedule.zone
    with archive_of(config) as archive:
        entries = archive.list_outbox(statuses)
        disabled = archive.disabled_notifiers()
        counts = archive.outbox_counts()
    for name, reason in disabled.items():
        click.echo(
            f"notifier {name} is disabled: {reason} (`monitor notify test {name}` re-enables)"
        )
    for e in entries:
        what = e.headline or e.kind
        click.echo(
            f"{e.id[:12]}  {e.status:<7} {e.notifier:<10} {e.kind:<6} attempts {e.attempts}  "
            f"next {when(e.next_attempt, zone)}  [{e.topic}] {what}"
        )
        if e.last_error:
            click.echo(f"{'':14}last error: {redact_text(e.last_error)}")
    click.echo(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "outbox empty")


@alerts.command("retry")
@config_option
@click.argument("ids", nargs=-1)
@click.option("--all-dead", is_flag=True, help="Put every dead alert back in the queue.")
def alerts_retry(config_path: Path, ids: tuple[str, ...], all_dead: bool) -> None:
    """Put dead alerts (by id or id prefix) back to be sent at the next delivery."""
    if not ids and not all_dead:
        raise click.UsageError("give alert ids or --all-dead")
    config = load(config_path)
    with archive_of(config, write=True) as archive:
        count = archive.retry_outbox(utc_now(), ids=ids, all_dead=all_dead)
    click.echo(f"{plural(count, 'alert')} queued again")


@click.group()
def notify() -> None:
    """Notifier tools."""


@notify.command("test")
@config_option
@click.argument("name")
def notify_test(config_path: Path, name: str) -> None:
    """Send a test message through one notifier now and report the outcome."""
    config = load(config_path)
    settings = config.notifiers.get(name)
    if settings is None:
        known = ", ".join(config.notifiers) or "none configured"
        raise click.ClickException(f"no notifier named {name!r} (known: {known})")
    now = utc_now()
    message = Message(
        id=hashlib.sha256(f"test\0{name}\0{now.isoformat()}".encode()).hexdigest()[:32],
        kind="test",
        topic="",
        created=now,
        title="news monitor: test message",
        text=f"This is a test message from the news monitor to notifier {name!r}.",
    )
    try:
        notifier = build_notifier(settings)
        try:
            notifier.send(message)
        finally:
            notifier.close()
    except NotifyError as exc:
        raise click.ClickException(f"test message through {name} failed: {exc.reason}") from exc
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from exc
    # Re-enabling is the one write, made only when needed; an archive that does not exist
    # has nothing disabled.
    if archive_exists(config):
        with archive_of(config) as archive:
            disabled = name in archive.disabled_notifiers()
        if disabled:
            with archive_of(config, write=True) as archive:
                archive.enable_notifier(name)
            click.echo(f"notifier {name} was disabled; it works again and is enabled")
    click.echo(f"test message sent through {name} ({settings.type})")
