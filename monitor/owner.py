"""Who holds a lease, and whether that process is still there.

A lease names its owner ``host:pid:start@ns``: the host name, the process id, the
process's start time (clock ticks after boot, field 22 of ``/proc/PID/stat``), and the
inode of its pid namespace with the machine's boot id. A lease whose owner is on this host
and in this pid namespace, and whose process has ended, is free at once rather than when
it expires: a ``monitor poll`` killed mid-poll holds nothing up. The start time tells a
pid reused by a later process from the owner itself; the namespace keeps containers that
share a host name (host networking), and the boot id machines that do, from judging each
other's pids. Owners that cannot be checked (another host, another namespace, a system
without ``/proc``, an owner written without a start time) keep their leases until they
expire.
"""

from __future__ import annotations

import functools
import os
import socket

_PROC = "/proc"


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat from the state on; None when it cannot be read."""
    try:
        with open(f"{_PROC}/{pid}/stat", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # "pid (command) state ...": the command may hold spaces and parentheses.
    return text[text.rindex(")") + 2 :].split()


@functools.cache
def _namespace() -> str | None:
    """The pid namespace's inode, and the boot's id: the first pid namespace has the same
    inode on every Linux machine, so two machines of one host name (cloned VMs, a default
    name) would otherwise judge each other's pids, and take each other's live leases."""
    try:
        inode = os.stat(f"{_PROC}/self/ns/pid").st_ino
        with open(f"{_PROC}/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip().replace("-", "")
    except OSError:
        return None
    return f"{inode}.{boot}"


def process_identity(pid: int) -> str | None:
    """``start@ns`` of a live process in this pid namespace; None if it cannot be told."""
    fields = _stat_fields(pid)
    namespace = _namespace()
    if fields is None or namespace is None or len(fields) < 20:
        return None
    return f"{fields[19]}@{namespace}"


def owner_of(pid: int) -> str:
    """The lease owner name of the process ``pid`` on this host."""
    identity = process_identity(pid)
    base = f"{socket.gethostname()}:{pid}"
    return base if identity is None else f"{base}:{identity}"


def default_owner() -> str:
    return owner_of(os.getpid())


def owner_gone(owner: str) -> bool:
    """Whether ``owner`` is a process of this host and namespace that no longer exists."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False  # an owner name without a start time: wait for its lease to expire
    host, pid_text, identity = parts
    _, _, namespace = identity.partition("@")
    if host != socket.gethostname() or namespace != _namespace() or namespace is None:
        return False
    pid = int(pid_text)
    fields = _stat_fields(pid)
    if fields is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # someone else's process, hidden from /proc (hidepid)
        return False
    if fields[0] in ("Z", "X"):
        return True  # dead, not yet reaped by its parent
    return process_identity(pid) != identity  # the pid now belongs to a later process
