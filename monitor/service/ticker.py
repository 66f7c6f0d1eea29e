"""The service's ticker: APScheduler 3.x runs a few jobs, kept on time across clock steps.

APScheduler compares each job's next run time with the wall clock and sleeps on a timer of
the event loop (monotonic) until the soonest: a step of the system clock back by an hour
left every job waiting out the hour, and setting the clock right again did not wake it. A
watchdog on the loop's monotonic clock therefore compares, every second, the wall time
elapsed with the monotonic time elapsed; when they part (a step either way), every job
whose next run lies ahead is made due now and the scheduler is woken, so it counts its
intervals from the new wall time. Jobs run one at a time (a tick that finds its job still
running is skipped), and a job that raises is logged and runs again at its next time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.clock import utc_now

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[None]]
STEP_TOLERANCE = 1.0  # seconds of disagreement that are a step, not jitter or slewing
WATCH_EVERY = 1.0


class Ticker:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            # One run of a job at a time; runs missed while it ran (or while the machine
            # slept) are one run, never a burst, however late.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._watch: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()  # runs in progress

    def every(self, name: str, seconds: float, job: Job, *, first: float | None = None) -> None:
        """Run ``job`` every ``seconds``; the first time ``first`` seconds after now
        (default: one period)."""
        start = utc_now() + timedelta(seconds=seconds if first is None else first)
        self._scheduler.add_job(
            self._logged(name, job), "interval", seconds=seconds, id=name, next_run_time=start
        )

    def minutely(self, name: str, job: Job) -> None:
        """Run ``job`` now and at the start of each wall-clock minute."""
        self._scheduler.add_job(
            self._logged(name, job), "cron", second=0, id=name, next_run_time=utc_now()
        )

    def start(self) -> None:
        self._scheduler.start()
        self._watch = asyncio.create_task(self._watchdog(), name="ticker-watchdog")

    def stop(self) -> None:
        """No more runs start; a run in progress goes on (``finish`` waits for it)."""
        if self._watch is not None:
            self._watch.cancel()
        if self._scheduler.running:
            self._scheduler.pause()

    async def finish(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the runs in progress, then let the scheduler go.

        APScheduler's own shutdown cancels the runs in progress: a delivery cut off between
        sending a message and recording it would send it again after a restart.
        """
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def _watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        wall, mono = time.time(), loop.time()
        while True:
            await asyncio.sleep(WATCH_EVERY)
            now_wall, now_mono = time.time(), loop.time()
            step = (now_wall - wall) - (now_mono - mono)
            wall, mono = now_wall, now_mono
            if abs(step) > STEP_TOLERANCE:
                self._realign()

    def _logged(self, name: str, job: Job) -> Job:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s job failed", name)
            finally:
                if task is not None:
                    self._running.discard(task)

        return run

    def _realign(self) -> None:
        """Every job that waits on the wall clock is due now, and the scheduler looks again."""
        now = utc_now()
        for job in self._scheduler.get_jobs():
            if job.next_run_time is not None and job.next_run_time > now:
                job.modify(next_run_time=now)
        self._scheduler.wakeup()
