"""A pool of worker processes for CPU work (parsing feeds, extracting articles).

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers dies (the OOM
killer, a segfault in a C parser, ``os._exit``) or an answer cannot be unpickled, the whole
executor breaks, every pending job fails with ``BrokenProcessPool``, and it cannot tell which
job was running in the dead worker. Nor can it stop one job that runs too long without
breaking the rest, and its workers outlive a parent killed by SIGKILL (they wait on a queue
whose write end they hold themselves).

Here each worker process belongs to one thread of this process, its *slot*, which sends it
one job at a time over a pipe of its own and waits for the answer, the worker's end, or the
job's deadline, whichever comes first. So:

- a worker that dies fails the one job it was running (``WorkerDied``) and is replaced;
  queued jobs, and jobs running in other workers, never notice;
- a job past its deadline has its worker killed and replaced (``JobTimedOut``);
- an answer that cannot be pickled in the worker, or unpickled here, fails that job alone
  (``WorkerError``), and the worker goes on;
- a worker exits as soon as this process dies, even in the middle of a job: it watches its
  parent's sentinel from a thread. Once the workers are gone, the forkserver and the
  resource tracker see their last pipes close and exit too, so a SIGKILL leaves no orphans.

A job is a picklable callable without arguments; its result or exception comes back in a
``concurrent.futures.Future`` (``asyncio.wrap_future`` makes it awaitable).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

from monitor.errors import JobTimedOut, NoWorker, WorkerDied, WorkerError

log = logging.getLogger(__name__)

T = TypeVar("T")
# Starting and reaping processes: multiprocessing's bookkeeping of children is not thread-safe
# (Process.start polls every child, which reads a forkserver child's exit status once only).
_PROCESSES = threading.Lock()
# How long a worker asked to stop (its pipe closed) may take before it is killed.
STOP_GRACE = 2.0
# A new worker's warm-up may take this long even under a short job deadline: it is our own
# tiny job, and a busy machine must not make every new worker fail it.
WARM_UP_DEADLINE = 30.0
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True, kw_only=True, slots=True)
class RunningJob:
    """A job being run now: in which worker process, what it is, for how long so far."""

    pid: int
    label: str
    seconds: float


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, as text; set as its ``__cause__``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def exit_description(exitcode: int | None) -> str:
    """How a process ended, from its ``exitcode`` (negative: the signal that killed it)."""
    if exitcode is None:
        return "exit status unknown"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"killed by signal {-exitcode}"
        return f"killed by signal {-exitcode}, {name}"
    return f"exit code {exitcode}"


def failure_reason(exc: WorkerError, job: str) -> str:
    """What to record when ``job`` ("parsing", "extraction") failed in its worker."""
    if isinstance(exc, JobTimedOut):
        return f"{job} took longer than {exc.seconds:g} s"
    if isinstance(exc, WorkerDied):
        return f"{job} worker died ({exc.how})"
    return f"{job} failed in its worker: {exc.reason}"


class _Task:
    __slots__ = ("future", "job", "label")

    def __init__(self, job: Callable[[], Any], label: str) -> None:
        self.job = job
        self.label = label
        self.future: Future[Any] = Future()


class _Worker:
    """A worker process and this end of its pipe."""

    __slots__ = ("conn", "process")

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def gone(self) -> bool:
        """Whether the process has ended. Only for an idle worker, which has nothing to say:
        its pipe is readable only once it is closed."""
        return bool(wait([self.conn, self.process.sentinel], timeout=0))


class _Slot:
    """One thread of the pool, its worker, and the job it runs now (if any)."""

    __slots__ = ("index", "started", "task", "thread", "worker")

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: _Worker | None = None
        self.task: _Task | None = None
        self.started = 0.0
        self.thread: threading.Thread | None = None


class WorkerPool:
    """``size`` worker processes, each job limited to ``deadline`` seconds of wall time.

    ``warm_up``, a job, runs in each new worker before its first real one (imports, caches),
    so that the first real job does not pay for them against its deadline. ``niceness`` is
    added to each worker's (``os.nice``): work that may wait its turn.
    """

    def __init__(
        self,
        size: int,
        *,
        deadline: float,
        context: ForkServerContext | SpawnContext | None = None,
        warm_up: Callable[[], object] | None = None,
        name: str = "worker",
        niceness: int = 0,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.deadline = deadline
        self._context = context or multiprocessing.get_context("forkserver")
        self._warm_up = warm_up
        self._name = name
        self._niceness = niceness
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # the slots' worker and task, and _closed
        self._closed = False
        self._slots = [_Slot(i) for i in range(size)]
        for slot in self._slots:
            slot.thread = threading.Thread(
                target=self._serve, args=(slot,), name=f"{name}-slot-{slot.index}", daemon=True
            )
            slot.thread.start()

    def submit(self, job: Callable[[], T], *, label: str = "") -> Future[T]:
        """Queue ``job``; ``label`` (e.g. the feed's URL) names it in logs and ``running``."""
        task = _Task(job, label)
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            self._tasks.put(task)
        return task.future

    def running(self) -> tuple[RunningJob, ...]:
        """The jobs being run now."""
        now = time.monotonic()
        with self._lock:
            return tuple(
                RunningJob(pid=s.worker.pid, label=s.task.label, seconds=now - s.started)
                for s in self._slots
                if s.task is not None and s.worker is not None
            )

    def pids(self) -> tuple[int, ...]:
        """The worker processes now (a replaced one's successor may not have started yet)."""
        with self._lock:
            return tuple(s.worker.pid for s in self._slots if s.worker is not None)

    def shutdown(self) -> None:
        """Cancel the queued jobs, stop the workers (killing those with a job), and wait."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            busy = [s.worker for s in self._slots if s.task is not None and s.worker is not None]
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None:
                task.future.cancel()
        for _ in self._slots:
            self._tasks.put(None)
        for worker in busy:  # nobody waits for what they are doing
            worker.process.kill()
        for slot in self._slots:
            if slot.thread is not None:
                slot.thread.join()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # -- in each slot's thread ----------------------------------------------------------------

    def _serve(self, slot: _Slot) -> None:
        try:
            self._replace(slot)  # started before any job comes, so that it is ready for it
            while (task := self._tasks.get()) is not None:
                if self._closed:  # taken while shutdown() cancelled the queue
                    task.future.cancel()
                if not task.future.set_running_or_notify_cancel():
                    continue
                try:
                    self._run(slot, task)
                except Exception as exc:  # a bug here must not leave the job's caller waiting
                    log.exception("%s pool: internal error running %s", self._name, task.label)
                    if not task.future.done():
                        task.future.set_exception(exc)
                    self._discard(slot, kill=True)
        finally:
            self._discard(slot, kill=False)

    def _run(self, slot: _Slot, task: _Task) -> None:
        try:
            payload = pickle.dumps(task.job, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # the caller's bug, not the worker's: said as it is
            task.future.set_exception(exc)
            return
        worker = self._ready_worker(slot)
        if worker is not None and not _send(worker, payload):
            # It died just now, before it could read the job: not the job's doing.
            self._discard(slot, kill=True)
            worker = self._ready_worker(slot)
            if worker is not None and not _send(worker, payload):
                self._discard(slot, kill=True)
                worker = None
        if worker is None:
            task.future.set_exception(NoWorker())
            return
        self._execute(slot, worker, task)
        if slot.worker is None:
            self._replace(slot)

    def _execute(
        self, slot: _Slot, worker: _Worker, task: _Task, deadline: float | None = None
    ) -> None:
        """Wait for the answer to the job just sent to the worker, as the slot's job."""
        with self._lock:
            if self._closed:  # shutdown() did not see this job to kill its worker
                worker.process.kill()
            slot.task, slot.started = task, time.monotonic()
        try:
            self._await_answer(slot, worker, task, deadline or self.deadline)
        finally:
            with self._lock:
                slot.task = None

    def _ready_worker(self, slot: _Slot) -> _Worker | None:
        """The slot's worker, started anew if there is none or it died while idle."""
        if slot.worker is not None and slot.worker.gone():
            how = exit_description(self._reap(slot.worker))
            log.warning("%s pool: worker %d died while idle (%s)", self._name, slot.worker.pid, how)
            self._set_worker(slot, None)
        if slot.worker is None:
            self._replace(slot)
        return slot.worker

    def _await_answer(self, slot: _Slot, worker: _Worker, task: _Task, deadline: float) -> None:
        due = slot.started + deadline
        while True:
            left = due - time.monotonic()
            ready = wait([worker.conn, worker.process.sentinel], timeout=max(left, 0.0))
            if worker.conn in ready:
                try:
                    answer = worker.conn.recv_bytes()
                except (EOFError, OSError):  # it died: its pipe closed
                    break
                _settle(task.future, answer)
                return
            if ready:  # the exit status, before the pipe closed?
                if not wait([worker.conn], timeout=1.0):
                    # The forkserver that reports it is gone, and the worker may live on.
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.pid, signal.SIGKILL)
                break
            if left <= 0:
                worker.process.kill()
                self._reap(worker)
                self._set_worker(slot, None)
                log.warning(
                    "%s pool: worker %d: %s took longer than %g s; killed",
                    self._name,
                    worker.pid,
                    task.label,
                    deadline,
                )
                task.future.set_exception(JobTimedOut(deadline))
                return
        how = exit_description(self._reap(worker))
        self._set_worker(slot, None)
        if self._closed:
            task.future.set_exception(WorkerError("the worker pool was shut down"))
            return
        log.warning(
            "%s pool: worker %d died (%s) running %s", self._name, worker.pid, how, task.label
        )
        task.future.set_exception(WorkerDied(how))

    def _replace(self, slot: _Slot) -> None:
        """Give the slot a new worker, warmed up; none when it cannot be started."""
        self._discard(slot, kill=True)
        with self._lock:
            if self._closed:
                return
        try:
            worker = self._start(slot)
        except Exception:  # (too many processes or files, say) the next job tries again
            log.exception("%s pool: could not start a worker process", self._name)
            return
        self._set_worker(slot, worker)
        if self._warm_up is None:
            return
        warm = _Task(self._warm_up, "warm-up")
        warm.future.set_running_or_notify_cancel()
        if _send(worker, pickle.dumps(self._warm_up, pickle.HIGHEST_PROTOCOL)):
            # Gone already otherwise: the next job finds out.
            self._execute(slot, worker, warm, max(self.deadline, WARM_UP_DEADLINE))
        problem = warm.future.exception() if warm.future.done() else None
        if problem is not None and not self._closed:
            log.warning("%s pool: a worker could not warm up: %s", self._name, problem)

    def _start(self, slot: _Slot) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=_work,
            args=(theirs, self._niceness),
            name=f"{self._name}-{slot.index}",
            daemon=True,
        )
        try:
            with _PROCESSES:
                process.start()
        finally:
            theirs.close()  # the worker's end: its death must close the pipe for us
        return _Worker(process, ours)

    def _set_worker(self, slot: _Slot, worker: _Worker | None) -> None:
        with self._lock:
            slot.worker = worker

    def _discard(self, slot: _Slot, *, kill: bool) -> None:
        """Stop the slot's worker, if any: at once, or by closing its pipe."""
        worker = slot.worker
        if worker is None:
            return
        self._set_worker(slot, None)
        if kill:
            worker.process.kill()
        worker.conn.close()  # an idle worker reads the end of its pipe and exits
        self._reap(worker, grace=STOP_GRACE)

    @staticmethod
    def _reap(worker: _Worker, grace: float = 0.0) -> int | None:
        """Wait for the worker's end (killing it after ``grace``); its exit code."""
        if grace and not wait([worker.process.sentinel], timeout=grace):
            worker.process.kill()
        worker.conn.close()
        with _PROCESSES:
            worker.process.join(timeout=10)
            return worker.process.exitcode


def _send(worker: _Worker, payload: bytes) -> bool:
    """Send a job; False when the worker is gone (its pipe is closed)."""
    try:
        worker.conn.send_bytes(payload)
    except OSError:
        return False
    return True


def _settle(future: Future[Any], answer: bytes) -> None:
    try:
        ok, value, trace = pickle.loads(answer)
    except Exception as exc:  # e.g. an exception class whose __init__ cannot take its args
        future.set_exception(WorkerError(f"its answer could not be read: {exc!r}"))
        return
    if ok:
        future.set_result(value)
        return
    if trace:
        value.__cause__ = RemoteTraceback(trace)
    future.set_exception(value)


# -- in the worker process ----------------------------------------------------------------------


def _work(conn: Connection, niceness: int) -> None:
    """A worker's life: run the jobs that come down the pipe until it closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops us
    if niceness:
        with contextlib.suppress(OSError):  # lowering one's priority needs no privilege
            os.nice(niceness)
    _killed_with_parent()
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True).start()
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return
        conn.send_bytes(_answer(payload))


def _killed_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the process that started it exits.

    The watchdog thread below cannot run while a job holds the GIL in C code (a runaway
    regular expression, say); the kernel's parent-death signal always arrives. The parent is
    the forkserver (or the main process with another start method). The forkserver exits
    when every holder of its "alive" pipe has: the main process and, as multiprocessing hands
    each child a copy, its workers. A worker starts no processes, so it gives its copy back.
    """
    if not sys.platform.startswith("linux"):
        return
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[union-attr]
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc to ask: the watchdog thread still watches
        return
    if os.getppid() != parent:  # it exited before the signal was asked for
        os._exit(1)


def _exit_with_parent(sentinel: int) -> None:
    """Exit the moment the parent process has (its sentinel pipe closes), job or no job."""
    wait([sentinel])
    os._exit(1)


def _answer(payload: bytes) -> bytes:
    """(ok, result or exception, traceback text), pickled; whatever happens, something is."""
    try:
        job = pickle.loads(payload)
        answer: tuple[bool, Any, str] = (True, job(), "")
    except Exception as exc:
        answer = (False, exc, traceback.format_exc())
    try:
        return pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        what = "result" if answer[0] else f"{type(answer[1]).__name__} exception"
        lost = WorkerError(f"its {what} could not be sent back: {exc!r}")
        return pickle.dumps((False, lost, answer[2]), pickle.HIGHEST_PROTOCOL)
