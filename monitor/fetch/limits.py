"""How many requests run at once and how far apart they start, shared by every fetcher of a
poll: the feeds' and their pages' requests count against the same limits."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from monitor.config import FetchSettings


class HostLimits:
    """Slots overall and per host, and spacing between the starts of requests to one host.

    Made inside the event loop that uses it (its semaphores belong to that loop); the
    spacing dict may outlive it, so a poller passes its own and spacing holds across polls.
    """

    def __init__(self, settings: FetchSettings, *, spacing: dict[str, float] | None = None):
        self.settings = settings
        self._overall = asyncio.Semaphore(settings.concurrency)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # When each host may next be asked (monotonic seconds).
        self._next_start: dict[str, float] = {} if spacing is None else spacing

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Wait for ``host``'s turn, then hold a slot of it and one overall."""
        await self._space(host)
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self.settings.per_host))
        async with per_host, self._overall:  # host first, so one busy host cannot hog slots
            yield

    async def _space(self, host: str) -> None:
        """Wait until at least ``host_spacing`` has passed since the last request to ``host``."""
        gap = self.settings.host_spacing
        if gap <= 0:
            return
        now = time.monotonic()
        slot = max(now, self._next_start.get(host, 0.0))
        self._next_start[host] = slot + gap
        if slot > now:
            await asyncio.sleep(slot - now)
