"""``monitor run``: the long-running service.

One asyncio loop and a ticker (``monitor.service.ticker``) that runs a few jobs on the
monotonic clock, one instance per job, so no step of the wall clock delays them.
Per-feed schedule state lives in the archive; each poll tick claims the feeds that
are due (leases keep two polls of a feed apart), after moving the stored times back
with the wall clock if it was stepped back since the last tick. Jobs: poll tick,
outbox delivery (also started right after a poll that created alerts), digests (at
the start of each minute), and housekeeping (reloading changed config and rule files,
feed health alerts, status). Every component has its own archive connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from monitor import aio
from monitor.alerts.deliver import Deliverer, DeliveryReport, HeldOutcomes, run_digests
from monitor.alerts.health import HealthMessage, feed_message, reload_message
from monitor.alerts.plan import AlertPlanner
from monitor.archive import Archive, open_archive
from monitor.clock import Clock, ClockWatch, utc_now
from monitor.config import Config, load_config
from monitor.errors import ConfigError, MonitorError, StorageFault
from monitor.owner import default_owner
from monitor.poll.poller import Poller
from monitor.rules import RuleEngine, check_rules_against_config
from monitor.service.app import App, open_app
from monitor.service.faultlog import FaultLog
from monitor.service.lock import ArchiveLock
from monitor.service.metrics import Metrics, MetricsServer, stall_window
from monitor.service.ticker import Ticker
from monitor.units import plural

# How often retention prunes the archive, and how much at most each time (then again soon).
PRUNE_EVERY = 3600.0
PRUNE_MOST = 5000
PRUNE_AGAIN = 10.0
log = logging.getLogger(__name__)
# The status of each worker of a shared archive is kept under this prefix and its owner.
WORKER_STATUS = "worker "
MAX_PARALLEL_POLLS = 4  # poll ticks that may overlap when a slow feed holds one up
T = TypeVar("T")


# A watched file as a reload sees it: its path, the file it names after symlinks, that
# file's device and inode, modification time and size.
FileStamp = tuple[str, str, int, int, int, int]


def _fingerprint(paths: Iterator[Path]) -> tuple[FileStamp, ...]:
    """What the watched files are now. Symlinks are followed, and the inode is compared as
    well as the time and size: a file replaced by rename (editors, ``sed -i``, ``monitor
    feeds import``) or behind a swapped symlink (a Kubernetes ConfigMap's ``..data``) is a
    new file even when it has the old one's time and size (``cp -p``, a coarse clock)."""
    out = []
    for path in paths:
        try:
            stat = path.stat()
            target = os.path.realpath(path)
        except OSError:
            continue
        out.append((str(path), target, stat.st_dev, stat.st_ino, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(out))


async def _in_thread(call: Callable[[], T]) -> T:
    """``call()`` in a daemon thread of its own. Not the default executor: the end of
    ``asyncio.run`` waits for its threads, so a long compile would hold up stopping."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.done():  # cancelled: the service is stopping
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (call(), None)
        except BaseException as exc:  # handed to the waiting coroutine, whatever it is
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="reload", daemon=True).start()
    return await future


def _close(generation: _Generation | None) -> None:
    if generation is not None:
        generation.app.close()


@dataclass
class _Generation:
    """What one version of the configuration built (``monitor.service.app``), and its polls in
    flight: replaced whole on reload."""

    app: App
    polls: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def config(self) -> Config:
        return self.app.config

    @property
    def planner(self) -> AlertPlanner:
        return self.app.planner

    @property
    def poller(self) -> Poller:
        return self.app.poller

    @property
    def deliverer(self) -> Deliverer:
        return self.app.deliverer


class Service:
    def __init__(self, config_path: Path, *, clock: Clock = utc_now) -> None:
        self.config_path = config_path
        self.clock = clock
        self.owner = default_owner()
        self._own_status: dict[str, Any] = {}  # with a shared archive: this worker's status
        self.metrics = Metrics()
        self._stop = asyncio.Event()
        self._deliver_lock = asyncio.Lock()
        self._deliver_again = False
        self._config_errors: list[str] = []
        self._told_errors: set[str] = set()  # reload errors the health notifier was told of
        self._digest_failures: dict[str, str] = {}  # topic -> why its digest failed
        self._files: tuple[FileStamp, ...] = ()
        self._generation: _Generation | None = None
        self._retired: list[_Generation] = []
        self.rules = RuleEngine(Path())
        self.house: Archive  # opened in _main, under the archive lock
        self._background: set[asyncio.Task[None]] = set()
        self._held = HeldOutcomes()  # delivery outcomes not recorded yet, across reloads
        self._storage = FaultLog(log)
        self._fatal: StorageFault | None = None  # why the service stops on its own
        self._steps = ClockWatch()  # steps of the wall clock, on the system's clocks
        self._next_prune = 0.0  # monotonic: retention runs once an hour

    # -- building ---------------------------------------------------------------------------

    def _build(self, config: Config) -> _Generation:
        # The rules as the service has them when a story is matched: a reload replaces them.
        app = open_app(
            config,
            lambda: self.rules.rules,
            owner=self.owner,
            held=self._held,
            clock=self.clock,
        )
        return _Generation(app=app)

    def _watched(self, config: Config) -> Iterator[Path]:
        yield self.config_path
        yield from config.rules_path.glob("*.toml")

    @property
    def current(self) -> _Generation:
        assert self._generation is not None, "the service is not running"
        return self._generation

    # -- running ----------------------------------------------------------------------------

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; return the exit code."""
        return aio.run(self._main())

    async def _main(self) -> int:
        config = load_config(self.config_path)
        # Taken before the files are read, so an edit made while starting is not missed.
        self._files = _fingerprint(self._watched(config))
        self.rules = RuleEngine(config.rules_path)
        self.rules.reload(check=lambda rules: check_rules_against_config(rules, config))
        if self.rules.errors:
            for error in self.rules.errors:
                log.error("%s", error)
            raise MonitorError(
                f"{plural(len(self.rules.errors), 'error')} in the rule files and configuration; "
                "not starting"
            )
        lock = ArchiveLock.for_url(config.archive_url)
        with lock:
            self.house = open_archive(config.archive_url)
            server = None
            try:
                # We hold the single-instance lock, so any lease left is from a crashed run
                # (a shared archive keeps its other workers' leases).
                self.house.release_leases()
                self._generation = self._build(config)
                server = MetricsServer.start(
                    config.service.metrics_port, self.metrics, host=config.service.metrics_bind
                )
                await self._serve(config)
            finally:
                if server is not None:
                    server.stop()
                self._close_all()
                self.house.close()
        if self._fatal is not None:
            raise self._fatal
        return 0

    async def _serve(self, config: Config) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        s = config.service
        self.metrics.stall_after = stall_window(s.tick)
        ticker = Ticker()
        ticker.every("poll", s.tick, self._poll_tick, first=0.0)
        ticker.every("deliver", s.deliver_every, self._deliver_tick)
        ticker.minutely("digests", self._digest_tick)
        ticker.every("house", s.reload_every, self._housekeeping)
        ticker.start()
        self._set_status(state="running", started=self.clock().isoformat(), pid=os.getpid())
        log.info(
            "monitor running: %s, %s",
            plural(len(config.feeds), "feed"),
            plural(len(self.rules.rules.topics), "topic"),
        )
        await self._stop.wait()
        log.info("stopping: no new work; finishing what is in flight")
        ticker.stop()
        grace = self.current.config.service.grace
        await ticker.finish(grace)
        await self._drain(grace)
        self._set_status(state="stopped", stopped=self.clock().isoformat(), reloading=None)

    async def _drain(self, grace: float) -> None:
        tasks = {t for g in (self._generation, *self._retired) if g for t in g.polls}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
                log.warning(
                    "%s cut short at the end of the grace time", plural(len(pending), "poll")
                )
        with contextlib.suppress(MonitorError):
            # What was cut short is claimable again at once (by another worker, too).
            self.house.release_leases(self.owner)

    def _close_all(self) -> None:
        for generation in (self._generation, *self._retired):
            _close(generation)

    # -- jobs -------------------------------------------------------------------------------

    async def _poll_tick(self) -> None:
        self.metrics.record_tick()
        generation = self.current
        if self._stop.is_set():
            return
        try:  # a deleted archive takes writes into the void: notice it within a tick
            self.house.check_file()
        except StorageFault as exc:
            self._storage_fault(exc)
            return
        step = self._steps.look()
        if step:
            log.warning("the wall clock was stepped by %+.0f s", step)
            try:
                await generation.poller.clock_stepped(step)
            except MonitorError as exc:
                log.error("cannot move the schedule with the clock: %s", exc)
        if len(generation.polls) >= MAX_PARALLEL_POLLS:
            return
        task = asyncio.create_task(self._poll(generation))
        generation.polls.add(task)
        task.add_done_callback(generation.polls.discard)

    async def _poll(self, generation: _Generation) -> None:
        try:
            summary = await generation.poller.poll(lookahead=generation.config.service.tick / 2)
        except StorageFault as exc:
            self._storage_fault(exc)
            return
        except MonitorError as exc:
            log.error("poll failed: %s", exc)
            return
        if summary.outcomes:
            self._storage.worked()
        self.metrics.record_poll(summary)
        if summary.alerts:  # alerts go out now, not at the next delivery tick
            self._deliver_soon()

    def _deliver_soon(self) -> None:
        task = asyncio.create_task(self._deliver_tick())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _deliver_tick(self) -> None:
        if self._deliver_lock.locked():
            self._deliver_again = True  # the running delivery will go round once more
            return
        async with self._deliver_lock:
            while True:
                self._deliver_again = False
                try:
                    report = await asyncio.to_thread(self._deliver_round, self.current)
                except StorageFault as exc:  # held outcomes and pending messages wait
                    self._storage_fault(exc)
                    break
                if report.held == 0 and report.sent + report.retrying + report.dead:
                    self._storage.worked()
                self.metrics.record_delivery(report)
                if not self._deliver_again or self._stop.is_set():
                    break

    def _deliver_round(self, generation: _Generation) -> DeliveryReport:
        """Alerts held for want of a notifier that is now configured, then the outbox."""
        try:
            released = generation.deliverer.archive.release_held(
                generation.planner.route, self.clock()
            )
            if released:
                log.info("%d held alerts can be sent now", released)
        except StorageFault:
            raise  # nothing can be recorded now: reported once, by the service
        except Exception:  # delivery goes on; they are tried again at the next round
            log.exception("cannot release held alerts")
        return generation.deliverer.run_once()

    async def _digest_tick(self) -> None:
        generation = self.current
        try:
            async with self._deliver_lock:
                run = await asyncio.to_thread(
                    partial(
                        run_digests,
                        generation.deliverer.archive,
                        self.rules.rules,
                        self.clock(),
                        zone=generation.config.schedule.zone,
                    )
                )
        except StorageFault as exc:
            self._storage_fault(exc)
            return
        except MonitorError as exc:
            log.error("digests failed: %s", exc)
            return
        self._digest_outcome(dict(run.failed))
        if run.created:
            await self._deliver_tick()

    def _digest_outcome(self, failed: dict[str, str]) -> None:
        """Log each digest failure once (not at every tick), and when it is over."""
        if failed == self._digest_failures:
            return
        for topic, reason in failed.items():
            if self._digest_failures.get(topic) != reason:
                log.error("digest of topic %r failed: %s", topic, reason)
        for topic in self._digest_failures.keys() - failed.keys():
            log.info("digest of topic %r works again", topic)
        self._digest_failures = failed
        self._set_status(digest_errors=failed)

    async def _housekeeping(self) -> None:
        try:
            if self.house.shared:  # `monitor status` tells a live worker by this
                self._set_status()
            await self._reload_if_changed()
            await asyncio.to_thread(self._health_alerts)
            await asyncio.to_thread(self._prune)
            self._retire_finished()
            self.metrics.snapshot(self.house)
        except StorageFault as exc:
            self._storage_fault(exc)
        except Exception:  # housekeeping must never stop the service
            log.exception("housekeeping failed")

    def _prune(self) -> None:
        """Retention: stories past ``[archive] keep`` go, at most once an hour."""
        retention = self.current.config.retention
        if retention.keep is None or time.monotonic() < self._next_prune:
            return
        now = self.clock()
        before, matched_before = retention.cutoffs(now)
        with self.house.exclusive("retention") as mine:
            if not mine:  # another worker of the shared archive is pruning: not twice at once
                return
            pruned = self.house.prune(
                before, matched_before=matched_before, now=now, most=PRUNE_MOST
            )
        # A long backlog (retention just turned on) goes a part at a time, so that stopping
        # never waits for all of it.
        again = PRUNE_AGAIN if pruned == PRUNE_MOST else PRUNE_EVERY
        self._next_prune = time.monotonic() + again
        if pruned:
            log.info("retention: pruned %s", plural(pruned, "story", "stories"))

    # -- reloading --------------------------------------------------------------------------

    async def _reload_if_changed(self) -> None:
        """Take edited config and rule files, only together and only when they agree.

        A new configuration is built whole before the rules are checked against it;
        a rule set is refused when the configuration it would run with lacks what it
        names (a notifier, a feed, a tag), and so is that configuration: the ones
        running go on, and the errors are recorded for ``monitor status`` and told to
        the health notifier. Whatever goes wrong, a crash included, is such an error.
        """
        files = _fingerprint(self._watched(self.current.config))
        if files == self._files:
            return
        # Taken before the files are read: an edit made meanwhile is seen next time. A
        # reload that fails is not tried again until the files change.
        self._files = files
        self._set_status(reloading=self.clock().isoformat())
        fresh: _Generation | None = None
        engine = self.rules
        changed = False
        try:
            # Off the loop: polls, deliveries and SIGTERM do not wait for a long compile.
            prepared = await self._unless_stopping(_in_thread(self._prepare_reload))
            if prepared is None:  # stopping: what runs now is what stops; nothing is applied
                log.info("reload abandoned: the service is stopping")
                self._set_status(reloading=None)
                return
            errors, fresh, engine, changed = prepared
        except Exception as exc:  # a bug or MemoryError: what runs goes on
            log.exception("reload failed")
            errors = [f"reload failed: internal error: {exc!r}"]
        if not errors:
            changed = changed or engine is not self.rules or fresh is not None
            self.rules = engine
            if fresh is not None:
                self._switch(fresh)
        for error in errors:
            log.error("reload failed, keeping the running configuration: %s", error)
        # After a rejected edit, say when the files load again, even if what they now say
        # is what already runs (the edit was undone): the logged error no longer applies.
        fixed = bool(self._config_errors) and not errors
        if (changed or fixed) and not errors:
            log.info(
                "configuration reloaded%s: %s, %s",
                "; the earlier error is fixed" if fixed else "",
                plural(len(self.current.config.feeds), "feed"),
                plural(len(self.rules.rules.topics), "topic"),
            )
            self._deliver_soon()  # alerts held for what the reload brings go out now
        self._config_errors = errors
        self._set_status(reload_errors=errors, reloading=None, reloaded=self.clock().isoformat())
        self._reload_health(errors)  # on the loop, as _set_status: the connection is not shared

    async def _unless_stopping(self, work: Awaitable[T]) -> T | None:
        """The result of ``work``, or None once the service is told to stop first (the
        work is cancelled: a compile still running in its thread is left to die with it)."""
        task = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        return None

    def _prepare_reload(self) -> tuple[list[str], _Generation | None, RuleEngine, bool]:
        """The errors of the files as they are now; without any, the generation to switch
        to (None: the configuration is unchanged), the rule engine, and whether the rules
        changed. Changes nothing: runs in a thread of its own."""
        errors: list[str] = []
        running = self.current.config
        config: Config | None = None
        try:
            config = load_config(self.config_path)
        except ConfigError as exc:
            errors.extend(str(problem) for problem in exc.problems)
        except MonitorError as exc:
            errors.append(str(exc))
        fresh = None
        if config is not None and config != running:
            try:
                fresh = self._build(config)  # raises (e.g. a missing secret) before any change
            except MonitorError as exc:
                errors.append(str(exc))
                config = None
        # The rules must fit the configuration they will run with.
        target = config or running
        engine = self.rules
        if target.rules_path != engine.folder:
            engine = RuleEngine(target.rules_path)
        try:
            changed = engine.reload(check=lambda rules: check_rules_against_config(rules, target))
        except BaseException:
            _close(fresh)
            raise
        errors.extend(str(e) for e in engine.errors)
        if errors:
            _close(fresh)  # built for nothing
            fresh = None
        return errors, fresh, engine, changed

    def _switch(self, new: _Generation) -> None:
        old = self.current
        self._generation = new
        self._retired.append(old)

    def _retire_finished(self) -> None:
        for generation in list(self._retired):
            if not generation.polls and not self._deliver_lock.locked():
                _close(generation)
                self._retired.remove(generation)
                # Its last polls planned their feeds' next polls by the old configuration.
                self.current.poller.resync()

    # -- health and status ------------------------------------------------------------------

    def _health_alerts(self) -> None:
        service = self.current.config.service
        if service.health_notifier is None:
            return
        now = self.clock()
        for url, name, change in self.house.health_changes(now, service.failing_after):
            message = feed_message(url, name, change, now, service.failing_after)
            self._enqueue_health(service.health_notifier, message, now)
            log.warning("%s", message.title)

    def _enqueue_health(self, notifier: str, message: HealthMessage, now: datetime) -> None:
        self.house.enqueue_message(
            id=message.id,
            notifier=notifier,
            kind="health",
            topic="",
            payload=message.payload,
            now=now,
        )

    def _storage_fault(self, fault: StorageFault) -> None:
        """Wait out a full disk (logged once); stop on a damaged or vanished archive."""
        if not fault.fatal:
            self._storage.failed(fault)
        elif self._fatal is None:
            self._fatal = fault  # raised by _main once everything is closed
            self._stop.set()

    def _reload_health(self, errors: list[str]) -> None:
        """Tell the health notifier of reload errors it has not been told of, once, and
        that the files load again once they do."""
        notifier = self.current.config.service.health_notifier
        if notifier is None:
            return
        now = self.clock()
        message = reload_message(errors, self._told_errors, now)
        if message is not None:
            try:
                self._enqueue_health(notifier, message, now)
            except MonitorError:
                log.exception("cannot queue the health message %r", message.title)
                return  # told at the next reload
        # Fixed errors are news again if they come back.
        self._told_errors = set(errors)

    def _set_status(self, **values: Any) -> None:
        if self._fatal is not None:
            return  # not a write more into that archive
        if self.house.shared:  # each worker has its own status, which only it writes
            self._own_status.update(values, seen=self.clock().isoformat())
            values = {f"{WORKER_STATUS}{self.owner}": self._own_status}
        try:
            self.house.set_status(values, self.clock())
        except MonitorError as exc:
            log.error("cannot record the service status: %s", exc)
