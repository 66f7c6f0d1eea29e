"""How many requests run at once and how far apart they start, shared by every fetcher of a
poll: the feeds' and their pages' requests count against the same limits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from monitor.config import FetchSettings

log = logging.getLogger(__name__)
# The first pause of a request waiting for a host slot another worker holds (seconds).
SHARED_SLOT_WAIT = 0.02


class SharedHosts(Protocol):
    """Per-host limits kept where every worker sees them (a shared archive), so that
    ``per_host`` and ``host_spacing`` hold across workers. Blocking calls."""

    def take_slot(self, host: str, slots: int, hold: float) -> int | None:
        """One of ``host``'s ``slots`` request slots, held at most ``hold`` seconds (a dead
        worker's come free then); None when every one is taken."""

    def give_slot(self, host: str, slot: int) -> None: ...

    def next_start(self, host: str, gap: float) -> float:
        """Book the next start of a request to ``host``, ``gap`` seconds after the last one
        booked by any worker; the seconds to wait for it."""

    def close(self) -> None: ...


class HostLimits:
    """Slots overall and per host, and spacing between the starts of requests to one host.

    Made inside the event loop that uses it (its semaphores belong to that loop); the
    spacing dict may outlive it, so a poller passes its own and spacing holds across polls.
    With ``shared`` (several workers on one archive), a request also holds one of the
    host's slots there, and its start is booked there: the limits hold across workers.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        spacing: dict[str, float] | None = None,
        shared: SharedHosts | None = None,
    ):
        self.settings = settings
        self._overall = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # When each host may next be asked (monotonic seconds).
        self._next_start: dict[str, float] = {} if spacing is None else spacing
        self._shared = shared

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait for ``host``'s turn, then hold a slot of it and one overall."""
        await self._space(host)
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self.settings.per_host))
        async with per_host, self._overall:  # host first, so one busy host cannot hog slots
            if self._shared is None:
                yield
                return
            taken = await self._take_shared(self._shared, host)
            try:
                yield
            finally:
                try:
                    await asyncio.to_thread(self._shared.give_slot, host, taken)
                except Exception as exc:  # the request's outcome stands; the slot runs out
                    log.warning("cannot give back a request slot of %s: %s", host, exc)

    async def _take_shared(self, shared: SharedHosts, host: str) -> int:
        """One of the host's slots across workers, waiting (a little longer each time) while
        other workers hold them all. Held at most a request's deadline and a minute."""
        hold = self.settings.timeout + 60
        pause = SHARED_SLOT_WAIT
        while (
            taken := await asyncio.to_thread(shared.take_slot, host, self.settings.per_host, hold)
        ) is None:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        return taken

    async def _space(self, host: str) -> None:
        """Wait until at least ``host_spacing`` has passed since the last request to ``host``
        (by any worker, when the limits are shared)."""
        gap = self.settings.host_spacing
        if gap <= 0:
            return
        if self._shared is not None:
            wait = await asyncio.to_thread(self._shared.next_start, host, gap)
            if wait > 0:
                await asyncio.sleep(wait)
            return
        now = time.monotonic()
        slot = max(now, self._next_start.get(host, 0.0))
        self._next_start[host] = slot + gap
        if slot > now:
            await asyncio.sleep(slot - now)
