"""Running a coroutine to the end on uvloop's event loop where it is installed, else asyncio's.

uvloop (Linux and macOS; a default dependency there) runs the same callbacks for much less CPU.
A poll is mostly loop work once its feeds are parsed elsewhere: a re-poll in which every feed
answers 304 took 10-25% less time on it (bench/ingest.py). Where it is missing (Windows),
asyncio's own loop runs everything the same way, only slower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """What makes the event loops this program runs on."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, on the loop of ``loop_factory``."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
