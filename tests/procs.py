"""Processes as Linux's /proc shows them: who descends from whom, and who is still alive;
and waiting for a condition to hold."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def _fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command, from the state on; None: no process."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (command) state ppid ...": the command may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state letter) of a process, or None when there is no such process."""
    fields = _fields(pid)
    return None if fields is None else (int(fields[1]), fields[0])


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used (user and system), 0 when it is gone."""
    fields = _fields(pid)
    if fields is None:
        return 0.0
    # utime and stime are the 14th and 15th fields of the line, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie (dead, waiting to be reaped)."""
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def parent_of(pid: int) -> int:
    stat = _stat(pid)
    assert stat is not None, f"no process {pid}"
    return stat[0]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now: its children, their children, and so on."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir(PROC):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def workers_below(pid: int, tree: set[int]) -> set[int]:
    """Add every process below ``pid`` now to ``tree``, which keeps those seen before (gone
    or not), and return the ones below one of them: a process pool's workers, children of
    its forkserver, two levels or more below ``pid``."""
    tree.update(descendants(pid))
    workers = set().union(*(descendants(child) for child in tree))
    tree.update(workers)
    return workers


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, *, every: float = 0.01
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """``wait_until`` as the service tests wait: a look every 50 ms, 15 s at the most."""
    wait_until(condition, timeout, "the condition", every=0.05)
