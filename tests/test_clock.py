"""Clock steps told from elapsed time, the monotonic ticker, and the health of the ticks."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.clock import ClockReading, ClockWatch, clock_step
from monitor.service.metrics import STALE_AFTER, STALL_FLOOR, Metrics, stall_window
from monitor.service.ticker import WATCH_EVERY, Ticker

T = 1_800_000_000.0


def reading(wall: float, monotonic: float) -> ClockReading:
    return ClockReading(wall=wall, monotonic=monotonic)


def test_a_step_is_the_difference_between_wall_and_monotonic_time_elapsed() -> None:
    before = reading(T, 100.0)
    assert clock_step(before, reading(T + 1.0, 101.0)) == 0.0
    assert clock_step(before, reading(T - 3599.0, 101.0)) == -3600.0
    assert clock_step(before, reading(T + 3601.0, 101.0)) == 3600.0
    # Reading two clocks in turn, and NTP slewing over a long gap, are not steps.
    assert clock_step(before, reading(T + 1.9, 101.0)) == 0.0
    assert clock_step(before, reading(T + 86400 + 30, 100.0 + 86400)) == 0.0
    assert clock_step(before, reading(T + 1.0 - 5.0, 101.0)) == -5.0


def test_the_watch_compares_each_look_with_the_one_before() -> None:
    wall, mono = [T], [0.0]
    watch = ClockWatch(wall=lambda: wall[0], monotonic=lambda: mono[0])
    assert watch.look() == 0.0  # nothing to compare with yet
    wall[0], mono[0] = T - 3599.0, 1.0
    assert watch.look() == -3600.0
    wall[0], mono[0] = T - 3598.0, 2.0
    assert watch.look() == 0.0  # once only
    wall[0], mono[0] = T + 3.0, 3.0
    assert watch.look() == 3600.0


def test_ticker_runs_each_job_one_at_a_time_and_goes_on_after_a_failure() -> None:
    calls: list[str] = []
    running = 0
    most = 0

    async def slow() -> None:  # outlasts its period several times over
        nonlocal running, most
        running += 1
        most = max(most, running)
        calls.append("slow")
        await asyncio.sleep(0.05)
        running -= 1

    async def failing() -> None:
        calls.append("failing")
        raise RuntimeError("a bug in a job")

    async def main() -> None:
        ticker = Ticker()
        ticker.every("slow", 0.01, slow, first=0.0)
        ticker.every("failing", 0.01, failing, first=0.0)
        ticker.start()
        while calls.count("slow") < 3 or calls.count("failing") < 3:
            await asyncio.sleep(0.01)
        ticker.stop()

    asyncio.run(main())
    assert most == 1


def test_a_stopped_ticker_lets_the_running_job_finish_and_starts_no_more() -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def job() -> None:
        events.append("start")
        started.set()
        await asyncio.sleep(0.05)
        events.append("end")

    async def main() -> None:
        ticker = Ticker()
        ticker.every("job", 0.001, job, first=0.0)
        ticker.every("idle", 3600.0, job)  # waiting for its first run when stopped
        ticker.start()
        await started.wait()
        ticker.stop()
        await ticker.finish(10)

    asyncio.run(main())
    assert events == ["start", "end"]


def test_a_step_of_the_wall_clock_makes_waiting_jobs_due_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # APScheduler counts on the wall clock: after a step back of an hour its jobs would wait
    # out the hour. The ticker's watchdog sees the wall and monotonic clocks part.
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    async def main() -> None:
        ticker = Ticker()
        ticker.every("hourly", 3600.0, job)  # its first run an hour from now
        ticker.start()
        await asyncio.sleep(WATCH_EVERY * 1.5)
        assert not ran.is_set()
        real = time.time
        monkeypatch.setattr("monitor.service.ticker.time.time", lambda: real() - 3600.0)
        await asyncio.wait_for(ran.wait(), 10 * WATCH_EVERY)
        ticker.stop()

    asyncio.run(main())


def test_health_fails_when_ticks_stop_for_a_few_tick_periods_or_polls_stop() -> None:
    assert stall_window(0.2) == stall_window(1.0) == STALL_FLOOR
    assert stall_window(60.0) == 300.0
    metrics = Metrics(stall_after=stall_window(1.0))
    metrics.last_tick = metrics.last_poll = 1000.0
    assert metrics.problem(1000.0 + STALL_FLOOR - 1) is None
    assert metrics.problem(1000.0 + STALL_FLOOR) == "the scheduler has not ticked for 10 s"
    metrics.last_tick = 1000.0 + STALE_AFTER  # ticking, but no poll finishes
    assert metrics.problem(1000.0 + STALE_AFTER) == "no poll recently"
    # Ticks far apart leave that long between polls too.
    slow = Metrics(stall_after=stall_window(300.0), last_tick=1000.0, last_poll=1000.0)
    assert slow.problem(1000.0 + 299) is None
