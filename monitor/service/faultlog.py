"""Saying that the archive's storage fails once, not at every tick.

While the disk is full every poll tick and delivery round meets the same fault. It is
logged when it starts or changes, again every ``repeat`` seconds while it lasts (so a
log read later still shows it), and once when the archive takes writes again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from monitor.errors import StorageFault

REPEAT_SECONDS = 300.0


class FaultLog:
    def __init__(
        self,
        log: logging.Logger,
        *,
        repeat: float = REPEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._repeat = repeat
        self._clock = clock
        self._text: str | None = None  # the fault being reported, if any
        self._said = 0.0
        self.count = 0  # faults met since the last time it worked

    def failed(self, fault: StorageFault) -> None:
        now = self._clock()
        text = str(fault)
        self.count += 1
        if text != self._text:
            self._log.error("%s; polls and deliveries wait, and go on by themselves after", text)
        elif now - self._said >= self._repeat:
            self._log.error("still: %s (%d times since it began)", text, self.count)
        else:
            return
        self._text, self._said = text, now

    def worked(self) -> None:
        """A write went through: the fault, if there was one, is over."""
        if self._text is not None:
            self._log.info("the archive takes writes again")
        self._text = None
        self.count = 0
