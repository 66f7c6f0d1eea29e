"""The worker pool on its own: real worker processes, jobs from the standard library.

A job that dies, overruns its deadline, or answers with something that cannot cross the
pipe fails alone; every other job gets its result and the pool goes on with a new worker.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from functools import partial
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from monitor.errors import FeedParseError, JobTimedOut, WorkerDied, WorkerError
from monitor.parse.feed import parse_feed, warm_up
from monitor.workers import RemoteTraceback, RunningJob, WorkerPool
from tests.procs import alive, cpu_seconds, descendants, parent_of, wait_until

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")

SQUARES = [i * i for i in range(20)]


def squares(pool: WorkerPool) -> list[Future[int]]:
    return [pool.submit(partial(pow, i, 2), label=f"square {i}") for i in range(20)]


def results(futures: list[Future[int]]) -> list[int]:
    return [f.result(timeout=60) for f in futures]


def running(pool: WorkerPool, label: str) -> RunningJob:
    """The job called ``label`` once it runs in a worker."""
    found: list[RunningJob] = []

    def started() -> bool:
        found[:] = [job for job in pool.running() if job.label == label]
        return bool(found)

    wait_until(started, 60, f"{label} to run")
    return found[0]


class Stubborn(Exception):
    """Pickles, but cannot be unpickled: its __init__ wants two arguments (the original bug)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")


def raise_stubborn() -> None:
    raise Stubborn("http://feed.example/", "not a feed")


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    with WorkerPool(2, deadline=60.0, name="test") as pool:
        yield pool


def test_jobs_run_in_worker_processes(pool: WorkerPool) -> None:
    assert results(squares(pool)) == SQUARES
    pids = {f.result() for f in [pool.submit(os.getpid) for _ in range(6)]}
    assert pids and os.getpid() not in pids
    assert pids <= set(pool.pids())


def test_workers_run_at_the_niceness_added_to_ours() -> None:
    ours = os.nice(0)
    with WorkerPool(1, deadline=60.0, niceness=5) as pool:
        assert pool.submit(partial(os.nice, 0)).result(timeout=60) == min(ours + 5, 19)


def test_a_worker_that_exits_fails_its_job_alone_and_is_replaced(pool: WorkerPool) -> None:
    before = squares(pool)
    exits = pool.submit(partial(os._exit, 3), label="exits")
    after = squares(pool)

    error = exits.exception(timeout=60)
    assert isinstance(error, WorkerDied)
    assert error.how == "exit code 3"
    assert str(error) == "worker died (exit code 3)"
    assert results(before) == SQUARES and results(after) == SQUARES
    wait_until(lambda: len(pool.pids()) == 2, 60, "the replacement worker")
    assert results(squares(pool)) == SQUARES


def test_a_worker_killed_by_a_signal_fails_only_the_job_it_was_running(
    pool: WorkerPool,
) -> None:
    sleeper = pool.submit(partial(time.sleep, 600), label="sleeper")
    job = running(pool, "sleeper")
    queued = squares(pool)
    os.kill(job.pid, signal.SIGKILL)

    error = sleeper.exception(timeout=60)
    assert isinstance(error, WorkerDied)
    assert error.how == "killed by signal 9, SIGKILL"
    assert results(queued) == SQUARES
    assert not alive(job.pid)
    assert results(squares(pool)) == SQUARES


def test_a_killed_forkserver_takes_its_workers_job_and_is_started_again() -> None:
    with WorkerPool(1, deadline=60.0) as pool:
        sleeper = pool.submit(partial(time.sleep, 600), label="sleeper")
        job = running(pool, "sleeper")
        forkserver = parent_of(job.pid)
        assert forkserver != os.getpid()
        os.kill(forkserver, signal.SIGKILL)

        assert isinstance(sleeper.exception(timeout=60), WorkerDied)
        wait_until(lambda: not alive(job.pid), 30, "the orphaned worker to be killed")
        assert pool.submit(os.getpid).result(timeout=60) != job.pid
        assert results(squares(pool)) == SQUARES


def test_a_job_past_its_deadline_is_abandoned_and_its_worker_replaced() -> None:
    with WorkerPool(2, deadline=2.0) as pool:
        sleeper = pool.submit(partial(time.sleep, 600), label="sleeper")
        job = running(pool, "sleeper")
        others = squares(pool)

        error = sleeper.exception(timeout=60)
        assert isinstance(error, JobTimedOut)
        assert error.seconds == 2.0 and str(error) == "took longer than 2 s"
        assert not alive(job.pid)  # killed, not left to run on
        assert results(others) == SQUARES
        wait_until(lambda: len(pool.pids()) == 2, 60, "the replacement worker")
        assert job.pid not in pool.pids()
        assert results(squares(pool)) == SQUARES


def test_a_result_that_cannot_be_pickled_fails_that_job_alone() -> None:
    with WorkerPool(1, deadline=60.0) as pool:
        pid = pool.submit(os.getpid).result(timeout=60)
        lock = pool.submit(threading.Lock)
        error = lock.exception(timeout=60)
        assert isinstance(error, WorkerError)
        assert error.reason.startswith("its result could not be sent back: TypeError(")
        assert pool.submit(os.getpid).result(timeout=60) == pid  # the same worker goes on


def test_an_exception_that_cannot_be_unpickled_fails_that_job_alone() -> None:
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(Stubborn("u", "r")))
    with WorkerPool(1, deadline=60.0) as pool:
        pid = pool.submit(os.getpid).result(timeout=60)
        error = pool.submit(raise_stubborn).exception(timeout=60)
        assert isinstance(error, WorkerError)
        assert error.reason.startswith("its answer could not be read: TypeError(")
        assert pool.submit(os.getpid).result(timeout=60) == pid


def test_a_job_that_cannot_be_pickled_fails_with_the_pickling_error(pool: WorkerPool) -> None:
    with pytest.raises(TypeError, match="cannot pickle"):
        pool.submit(partial(id, threading.Lock())).result(timeout=60)
    assert results(squares(pool)) == SQUARES


def test_errors_come_back_with_their_attributes_and_the_workers_traceback(
    pool: WorkerPool,
) -> None:
    page = b"<!doctype html><html><body><p>Not a feed at all.</p></body></html>"
    job = partial(parse_feed, page, url="http://feed.example/", now=datetime.now(UTC))
    error = pool.submit(job).exception(timeout=60)
    assert isinstance(error, FeedParseError)
    assert error.url == "http://feed.example/"
    assert error.reason.startswith("not a feed")
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "in parse_feed" in str(error.__cause__)
    assert results(squares(pool)) == SQUARES


def test_new_workers_warm_up_first() -> None:
    with WorkerPool(1, deadline=60.0, warm_up=warm_up) as pool:
        assert pool.submit(os.getpid).result(timeout=60) in pool.pids()


def test_shutdown_cancels_queued_jobs_and_stops_every_worker() -> None:
    pool = WorkerPool(1, deadline=600.0)
    sleeper = pool.submit(partial(time.sleep, 600), label="sleeper")
    job = running(pool, "sleeper")
    queued = squares(pool)
    pool.shutdown()

    assert all(f.cancelled() for f in queued)
    error = sleeper.exception(timeout=0)
    assert isinstance(error, WorkerError) and not isinstance(error, WorkerDied)
    assert not alive(job.pid)
    assert pool.pids() == ()
    with pytest.raises(RuntimeError):
        pool.submit(os.getpid)


_ORPHAN_SCRIPT = """
import re, sys, time
from functools import partial
from monitor.workers import WorkerPool

pool = WorkerPool(2, deadline=600.0)
pool.submit({job}, label="busy")
while not pool.running() or len(pool.pids()) < 2:
    time.sleep(0.01)
print(pool.running()[0].pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize(
    "job",
    [
        "partial(time.sleep, 600)",
        # Catastrophic backtracking: minutes in C with the GIL held, so that no thread of the
        # worker's own can notice its parent's end.
        'partial(re.match, r"(a+)+$", "a" * 40 + "b")',
    ],
    ids=["sleeping", "holding the GIL"],
)
def test_workers_and_the_forkserver_exit_when_their_parent_is_killed(job: str) -> None:
    """One worker busy with a job, one idle: a SIGKILL of the parent leaves no process."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN_SCRIPT.format(job=job)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        busy = int(proc.stdout.readline())
        if "re.match" in job:  # killed once it is under way (using the CPU), not sent yet
            wait_until(lambda: cpu_seconds(busy) > 0.3, 60, "the job to start")
        tree = descendants(proc.pid)
        assert len(tree) >= 3  # the forkserver, its two workers (and the resource tracker)
        proc.kill()
        proc.wait(timeout=60)

        def survivors() -> set[int]:
            return {pid for pid in tree if alive(pid)}

        try:
            wait_until(lambda: not survivors(), 30, "the parent's processes to exit")
        except AssertionError:
            pytest.fail(f"still running after the parent's SIGKILL: {sorted(survivors())}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


_COMMAND_SCRIPT = """\
from {module} import {attr}  # what the installed `monitor` script imports, as it does

if __name__ == "__main__":
    from functools import partial
    from monitor.workers import WorkerPool

    with WorkerPool(1, deadline=60.0) as pool:
        job = partial(eval, "sorted(m for m in __import__('sys').modules if 'monitor' in m)")
        print(" ".join(pool.submit(job).result(timeout=60)))
"""


def test_workers_started_by_the_monitor_command_leave_its_command_line_alone(
    tmp_path: Path,
) -> None:
    # A forkserver worker runs the top of the script that started its parent: the `monitor`
    # script's must not bring in the command line (650 modules: slower, larger workers).
    (command,) = entry_points(group="console_scripts", name="monitor")
    script = tmp_path / "monitor"
    script.write_text(_COMMAND_SCRIPT.format(module=command.module, attr=command.attr))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(done.stdout.split())
    assert "monitor.workers" in loaded
    assert not {m for m in loaded if m.startswith("monitor.cli")}, sorted(loaded)
