"""The archive writer: every archive write of a poll, from one thread, several to a
transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from monitor.archive import Archive

log = logging.getLogger(__name__)

# Archive writes in one transaction at most, and how long the writer waits for more. Batches
# grow only while writes wait for the writer; then fewer, larger transactions write each page
# of the archive's hash-keyed indexes once where smaller ones wrote it again each (at a
# million stories, 256 rather than 64 took a cold poll's commits from 2.1 s to 1.2 s).
# Waiting 0.5 s instead, a cold poll of 500 feeds wrote 4 transactions, not 8, and at a
# million stories the writer alone took 0.2-0.3 s less (the story-id index's random pages
# written fewer times); but the cold poll at 10,000 was no faster and its peak memory was
# 20-25 MB higher (the parsed feeds waiting longer).
WRITE_BATCH_JOBS = 256
WRITE_LINGER = 0.2
T = TypeVar("T")


class _Job:
    """One archive write, and where its outcome goes."""

    __slots__ = ("call", "future", "loop", "prepared", "urgent")

    def __init__(
        self,
        call: Callable[[], Any],
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        urgent: bool,
        prepared: bool = False,
    ) -> None:
        self.call = call
        self.loop = loop
        self.future = future
        self.urgent = urgent
        self.prepared = prepared  # call() runs outside any transaction and returns the write


class ArchiveWriter:
    """Runs archive writes in one thread of their own, several to a transaction.

    Writes are serialized and kept off the event loop, so a slow commit never stalls
    fetches (whose deadlines keep running meanwhile). When the archive has a ``batch()``
    (one transaction for every write made inside it), the jobs that are waiting when the
    thread gets to them run in one transaction: one commit, and one full-text index flush,
    for many feeds. The thread waits up to ``linger`` seconds for more jobs while more are
    announced (``expect``); a job marked urgent is never kept waiting. A prepared job does
    its work before the transaction (``submit_prepared``). When a batch fails,
    each of its jobs runs again on its own, so a failure stays with its own feed. A crash
    loses at most the batch being written: those feeds keep their old state, so the next
    poll fetches them again.
    """

    def __init__(
        self, archive: Archive, *, max_jobs: int = WRITE_BATCH_JOBS, linger: float = WRITE_LINGER
    ) -> None:
        self._archive = archive
        self._max_jobs = max_jobs
        self._linger = linger
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._coming = 0  # jobs announced with expect() and not submitted yet
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self._thread.start()

    def expect(self, jobs: int) -> None:
        """``jobs`` more jobs (submitted with ``expected=True``) are on their way; or fewer."""
        with self._cond:
            self._coming = max(0, self._coming + jobs)
            self._cond.notify()

    def submit(
        self, call: Callable[[], T], *, expected: bool = False, urgent: bool = False
    ) -> asyncio.Future[T]:
        """Run ``call`` in the writer thread; its result or exception comes to the future."""
        return self._submit(call, expected=expected, urgent=urgent)

    def submit_prepared(self, prepare: Callable[[], Callable[[], T]]) -> asyncio.Future[T]:
        """Run ``prepare`` in the writer thread outside any transaction, then the write it
        returns, with other jobs, as ``submit`` would: for work that must not hold the
        archive's write lock, such as matching stories before their matches are recorded."""
        return self._submit(prepare, prepared=True)

    def _submit(
        self,
        call: Callable[[], Any],
        *,
        expected: bool = False,
        urgent: bool = False,
        prepared: bool = False,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._cond:
            if self._closed:
                raise RuntimeError("the archive writer is closed")
            self._jobs.append(_Job(call, loop, future, urgent, prepared))
            if expected:
                self._coming = max(0, self._coming - 1)
            self._cond.notify()
        return future

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _next_batch(self) -> list[_Job]:
        with self._cond:
            while not self._jobs and not self._closed:
                self._cond.wait()
            deadline = time.monotonic() + self._linger
            while (
                self._jobs
                and len(self._jobs) < self._max_jobs
                and self._coming > 0
                and not self._closed
                and not any(job.urgent for job in self._jobs)
            ):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            count = min(len(self._jobs), self._max_jobs)
            return [self._jobs.popleft() for _ in range(count)]

    def _run(self) -> None:
        jobs: list[_Job] = []
        try:
            while True:
                jobs = self._next_batch()
                if not jobs:
                    return  # closed, and nothing is left to write
                self._settle(jobs, self._execute(jobs))
        except BaseException as exc:  # never leave a poll waiting for ever
            self._settle(jobs, [(False, exc)] * len(jobs))
            raise

    def _execute(self, jobs: list[_Job]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = [(False, None)] * len(jobs)
        writes: list[tuple[int, Callable[[], Any]]] = []
        for i, job in enumerate(jobs):
            if not job.prepared:
                writes.append((i, job.call))
                continue
            try:
                writes.append((i, job.call()))  # before the transaction, holding no lock
            except Exception as exc:
                outcomes[i] = (False, exc)
        if len(writes) > 1:
            try:
                with self._archive.batch():
                    done = [(i, write()) for i, write in writes]
                for i, value in done:
                    outcomes[i] = (True, value)
                return outcomes
            except Exception:
                log.debug(
                    "a batch of %d archive writes failed; writing them one by one", len(writes)
                )
        for i, write in writes:
            try:
                outcomes[i] = (True, write())
            except Exception as exc:
                outcomes[i] = (False, exc)
        return outcomes

    @staticmethod
    def _settle(jobs: list[_Job], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            by_loop.setdefault(job.loop, []).append((job.future, ok, value))
        for loop, results in by_loop.items():
            # A closed loop raises RuntimeError: nobody waits for these any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_set_results, results)


def _set_results(results: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in results:
        if future.done():
            continue  # cancelled
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
