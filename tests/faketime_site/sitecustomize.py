"""Imported at start-up by the processes that tests run under libfaketime (tests/faketime.py).

With the monotonic clock left real (FAKETIME_DONT_FAKE_MONOTONIC), libfaketime 0.9.10 turns
``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...)``, which ``time.sleep`` calls since
Python 3.11, into EINVAL (wolfcw/libfaketime#426). Sleeping with a relative timeout instead
keeps the program under test unchanged otherwise.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
