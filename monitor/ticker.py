"""The service's ticker: a few jobs, each run at intervals of the monotonic clock.

APScheduler 3.x compares each job's next run time with the wall clock, so a step of the
system clock back by an hour stopped every job for that hour, and stepping it forward
again did not wake them (the scheduler slept on the monotonic timer it had set). Here a
job's next run is counted on the event loop's clock (monotonic) from the start of its
last run, so no step of the wall clock delays it. A job runs one at a time: a run that
outlasts its period is followed at once by the next, never by the runs it overlapped.
A job that raises is logged and runs again at its next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)
Job = Callable[[], Awaitable[None]]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Entry:
    name: str
    job: Job
    every: float  # seconds from the start of one run to the start of the next
    wait: Callable[[], float] | None  # or: seconds from the end of a run to the next
    first: float  # seconds from the start of the ticker to the first run


def until_next_minute(wall: float) -> float:
    """Seconds from the wall-clock time ``wall`` to the start of the next minute, in (0, 60]:
    never longer than a minute, whatever the wall clock does in between."""
    return 60.0 - wall % 60.0


class Ticker:
    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    def every(self, name: str, seconds: float, job: Job, *, first: float | None = None) -> None:
        """Run ``job`` every ``seconds``; the first time ``first`` seconds after the start
        (default: one period)."""
        self._entries.append(
            _Entry(
                name=name,
                job=job,
                every=seconds,
                wait=None,
                first=seconds if first is None else first,
            )
        )

    def after(self, name: str, wait: Callable[[], float], job: Job, *, first: float = 0.0) -> None:
        """Run ``job`` again ``wait()`` seconds after each run ends (``wait`` is asked then)."""
        self._entries.append(_Entry(name=name, job=job, every=0.0, wait=wait, first=first))

    def start(self) -> None:
        for entry in self._entries:
            task = asyncio.create_task(self._loop(entry), name=f"ticker:{entry.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        """No more runs start; a run in progress finishes."""
        self._stopping.set()

    async def _loop(self, entry: _Entry) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + entry.first
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), max(0.0, due - loop.time()))
            if self._stopping.is_set():  # wait_for times out at once when the run is late
                return
            started = loop.time()
            try:
                await entry.job()
            except Exception:
                log.exception("%s job failed", entry.name)
            if entry.wait is not None:
                due = loop.time() + max(0.0, entry.wait())
            else:
                due = max(started + entry.every, loop.time())
