"""Which items of a poll are old news: archived and matched, but not alerted.

A feed added to the configuration carries its recent past (often dozens of items,
some of them weeks old); alerting all of them at once buries the news that is
actually new. So on a feed's first successful poll only items published within
``backlog_alerts`` of now are alerted. An item without a date is old news there:
nothing says it is recent, and a feed without dates would otherwise flood like any
other. From the second poll on every new item is news, dated or not. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.types import Entry


def backlog_flags(
    entries: Sequence[Entry], *, first_poll: bool, window: float, now: datetime, alerts: bool = True
) -> tuple[bool, ...]:
    """For each entry, whether it is backlog; ``()`` when none is.

    ``window``: seconds before ``now`` that still count as news on a first poll (inf:
    all, 0: none). ``alerts`` False: every entry is backlog (a poll without alerts).
    """
    if not first_poll and alerts:
        return ()
    if not alerts or window <= 0:
        return (True,) * len(entries)
    if math.isinf(window):
        return ()
    cutoff = now - timedelta(seconds=window)
    return tuple(e.published is None or e.published < cutoff for e in entries)
