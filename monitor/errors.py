"""One exception root with a branch per subsystem.

Identifying data (file, key, URL) is kept as attributes so callers can report or
record it; third-party exceptions are translated at the boundary with ``from``.

Every error survives pickling with its attributes, because parse and extraction jobs
raise them in worker processes (``monitor.workers``). Pickle rebuilds an exception by
calling its class with ``self.args``, which fails for an ``__init__`` with other
parameters; ``rebuilt`` instead restores ``args`` and the attributes without calling it.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from monitor.redact import redact_text, redact_url

E = TypeVar("E", bound=BaseException)


def rebuilt(cls: type[E], args: tuple[Any, ...]) -> E:
    """An instance of the exception class ``cls`` with ``args``, its ``__init__`` not called.

    Pickle then restores the instance's attributes (its ``__dict__``).
    """
    return cls.__new__(cls, *args)


def reduce_error(exc: BaseException) -> tuple[Any, ...]:
    """``__reduce__`` for an exception whose ``__init__`` does not take its own ``args``."""
    return rebuilt, (type(exc), exc.args), exc.__dict__ or None


class MonitorError(Exception):
    """Root of every error the monitor raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        return reduce_error(self)


class ConfigError(MonitorError):
    """The configuration file is missing, malformed or invalid.

    Shown as ``FILE:LINE:COL: KEY: message`` when the key's place in the file is known
    (``label`` is the key as shown, e.g. ``feeds[3] (Example News).interval``), else as
    ``FILE: KEY: message``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str = "",
        key: str = "",
        line: int | None = None,
        column: int | None = None,
        label: str = "",
    ) -> None:
        self.path = path
        self.key = key
        self.detail = message
        self.line = line
        self.column = column
        where = path
        if path and line is not None:
            where = f"{path}:{line}:{column or 1}"
        prefix = ": ".join(p for p in (where, label or key) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        """Each mistake found, one message per line of ``str(self)``."""
        return (self,)


class ConfigErrors(ConfigError):
    """Several mistakes in one configuration file, every one reported at once."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(
            first.detail, path=first.path, key=first.key, line=first.line, column=first.column
        )
        self.errors = tuple(errors)
        self.args = ("\n".join(str(e) for e in errors),)

    @property
    def problems(self) -> tuple[ConfigError, ...]:
        return self.errors


class FetchError(MonitorError):
    """A feed or page could not be fetched.

    ``transient``: whether the same request may succeed later (a timeout, a reset, a 5xx,
    429) rather than fail the same way (a 404, a bad URL, a refused address).
    """

    def __init__(
        self, url: str, reason: str, *, status: int | None = None, transient: bool | None = None
    ) -> None:
        self.url = url  # as requested: the feed's identity; shown only through redact_url
        # Reasons are stored and shown (a feed's last error): URLs in them lose their secrets.
        self.reason = redact_text(reason)
        self.status = status
        if transient is None:
            transient = status is not None and (status >= 500 or status in (408, 425, 429))
        self.transient = transient
        super().__init__(f"{redact_url(url)}: {self.reason}")


class BodyTooLarge(FetchError):
    """The response body (after decoding) exceeded the configured cap."""


class RetryLater(FetchError):
    """The server asked us to come back later (429/503 with Retry-After)."""

    def __init__(self, url: str, reason: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(url, reason, status=status)
        self.retry_after = retry_after


class FeedGone(FetchError):
    """410 Gone: the publisher retired the feed."""


class FeedParseError(MonitorError):
    """Fetched bytes could not be parsed as a feed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = redact_text(reason)
        super().__init__(f"{redact_url(url)}: {self.reason}")


class ArchiveError(MonitorError):
    """The archive database failed or is of an unknown version."""


class ArchiveMissing(ArchiveError):
    """A command that only reads found no archive (it never creates one)."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"no archive at {path} yet (`monitor run` or `monitor poll` creates it)")


class StorageFault(ArchiveError):
    """The archive's storage failed: the disk is full, the file cannot be written or read,
    or it is damaged or gone. ``detail`` is what SQLite or the system said.

    ``fatal``: the service stops (the archive is damaged, or not the file it opened) rather
    than wait for the storage to work again, as it does when the disk is full.
    """

    fatal: ClassVar[bool] = False
    what: ClassVar[str] = "the archive's storage failed"
    todo: ClassVar[str] = "check the disk that holds it"

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {self.what} ({detail}); {self.todo}")


class ArchiveFull(StorageFault):
    what = "the disk is full"
    todo = "free some space on it"


class ArchiveIOError(StorageFault):
    what = "the disk failed to read or write"
    todo = "check the disk and its free space (the kernel log says more: dmesg)"


class ArchiveReadOnly(StorageFault):
    what = "the archive cannot be written"
    todo = "make the file and its folder writable by this user, on a file system mounted read-write"


class ArchiveUnopenable(StorageFault):
    what = "the archive cannot be opened"
    todo = "check that its folder exists and that this user may read and write it"


class ArchiveCorrupt(StorageFault):
    fatal = True
    what = "the archive is damaged"
    todo = (
        "`monitor archive check` lists the damage and `monitor export DIR` saves the stories "
        "it can still read; then restore a backup, or move the file away to start a new archive"
    )


class ArchiveGone(StorageFault):
    """The file at the archive's path is no longer the one opened: deleted or replaced."""

    fatal = True
    what = "the archive file was deleted or replaced while in use"
    todo = (
        "stopping rather than write to a file nobody reads: put the archive back (or keep the "
        "file now there) and start again"
    )


class ArchiveUnreachable(StorageFault):
    """The database server of a shared archive does not answer (stopped, restarting, the
    network between): what was being written is written again once it answers."""

    what = "the database server cannot be reached"
    todo = "check that it is running and reachable at the configured [archive] url"


class LeaseLost(ArchiveError):
    """A worker's claim on a feed or message ran out before its work was recorded, and the
    work's outcome was refused: another worker may own it now (``what`` names it)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"the claim on {what} ran out before its outcome was recorded; refused")


class ArchiveDeleted(ArchiveError):
    """A service found its archive deleted (see ``marker``): no new one is made in its place
    until someone says so, or the first start after a restart would alert old news again."""

    def __init__(self, path: str, marker: str) -> None:
        self.path = path
        self.marker = marker
        super().__init__(
            f"{path} was deleted while the service had it open (as {marker} records); put the "
            f"archive back, or delete {marker} to start a new, empty one (alerts of the last "
            "day may then go out again)"
        )


class StoryNotFound(ArchiveError):
    def __init__(self, story_id: str) -> None:
        self.story_id = story_id
        super().__init__(f"no story with id {story_id!r}")


class NotifyError(MonitorError):
    """A message could not be delivered through a notifier. Retried later by default."""

    def __init__(self, notifier: str, reason: str, *, retry_after: float | None = None) -> None:
        self.notifier = notifier
        self.reason = redact_text(reason)  # a receiver's reply may quote the URL
        self.retry_after = retry_after  # seconds the receiver asked us to wait
        super().__init__(f"{notifier}: {self.reason}")


class AmbiguousDelivery(NotifyError):
    """The receiver may or may not have the message (e.g. SMTP dropped after DATA).

    Retried with the same message id, so a receiver that deduplicates sees it once.
    """


class NotifierGone(NotifyError):
    """The receiver says it no longer exists (webhook 410 Gone): disable the notifier."""


class PermanentFailure(NotifyError):
    """Retrying cannot help (bad credentials, rejected recipient): dead-letter at once."""


class WorkerError(MonitorError):
    """A job run in a worker process did not come back with its own result or exception."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class WorkerDied(WorkerError):
    """The worker process ended while it ran the job (killed, crashed, or exited).

    ``how``: "killed by signal 9 (SIGKILL)", "exit code 3", or "exit status unknown".
    """

    def __init__(self, how: str) -> None:
        self.how = how
        super().__init__(f"worker died ({how})")


class NoWorker(WorkerError):
    """No worker process could be started (a limit on processes, a broken environment)."""

    def __init__(self) -> None:
        super().__init__("no worker process could be started")


class JobTimedOut(WorkerError):
    """The job ran past its deadline; its worker was killed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(f"took longer than {seconds:g} s")
