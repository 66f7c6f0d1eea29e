"""Where the parts are put together: alert planner, poller and deliverer, from a configuration.

``monitor run`` and every command that polls or delivers build them here and nowhere
else, so they are wired alike everywhere: the planner routes by the rules the poller
matches with, a deliverer has every configured notifier, and both have an owner for
their leases and the one clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.alerts.deliver import Deliverer, HeldOutcomes
from monitor.alerts.plan import AlertPlanner
from monitor.archive import Archive, open_archive
from monitor.clock import Clock, utc_now
from monitor.config import Config
from monitor.notify import build_notifiers
from monitor.owner import default_owner
from monitor.poll.poller import Poller
from monitor.rules import RuleSet

# The rules as they are when asked: the service's change when it reloads them.
Rules = Callable[[], RuleSet]


def build_planner(config: Config, rules: Rules) -> AlertPlanner:
    """Matches stories by ``rules`` and routes their alerts to the configured notifiers."""
    return AlertPlanner(rules, config.feeds, list(config.notifiers))


def build_poller(
    config: Config,
    archive: Archive,
    *,
    planner: AlertPlanner,
    owner: str | None = None,
    clock: Clock = utc_now,
    alerts: bool = True,
) -> Poller:
    """Polls the configured feeds into ``archive``, matching new stories by ``planner``;
    ``alerts`` False: they are archived and matched as backlog, alerting nothing."""
    return Poller(config, archive, clock=clock, owner=owner, matcher=planner, alerts=alerts)


def build_deliverer(
    config: Config,
    archive: Archive,
    *,
    owner: str | None = None,
    clock: Clock = utc_now,
    held: HeldOutcomes | None = None,
) -> Deliverer:
    """Sends the outbox of ``archive`` through every configured notifier. Raises
    MonitorError when one cannot be built (a secret missing), before anything is sent."""
    notifiers = build_notifiers(config)
    return Deliverer(
        archive,
        notifiers,
        config.delivery,
        owner=owner or default_owner(),
        clock=clock,
        held=held,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class App:
    """What the service runs for one version of the configuration; replaced whole on reload."""

    config: Config
    planner: AlertPlanner
    poller: Poller
    deliverer: Deliverer

    def close(self) -> None:
        self.poller.close()
        self.deliverer.close()


def open_app(
    config: Config,
    rules: Rules,
    *,
    owner: str,
    held: HeldOutcomes,
    clock: Clock = utc_now,
) -> App:
    """The service's poller and deliverer, each with an archive connection of its own (so
    neither waits on the other's), sharing the outcomes held across reloads (``held``).
    Raises MonitorError (a notifier that cannot be built) having left nothing open."""
    planner = build_planner(config, rules)
    deliver_archive = open_archive(config.archive_url)
    try:
        deliverer = build_deliverer(config, deliver_archive, owner=owner, clock=clock, held=held)
    except BaseException:
        deliver_archive.close()
        raise
    try:
        poll_archive = open_archive(config.archive_url)
    except BaseException:
        deliverer.close()
        deliver_archive.close()
        raise
    poller = build_poller(config, poll_archive, planner=planner, owner=owner, clock=clock)
    return App(config=config, planner=planner, poller=poller, deliverer=deliverer)
