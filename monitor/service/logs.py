"""Log output: plain lines for people, or one JSON object per line for log collectors.

Every line passes through ``redact_text`` on its way out, tracebacks included: a URL
in a message (ours, httpx's, an exception's) is shown without its credentials, and
the secrets the monitor has read are masked wherever they appear.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback
from datetime import UTC, datetime
from types import TracebackType

from monitor.redact import redact_text

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: int, fmt: str = "plain", *, replace: bool = True) -> None:
    """Log to standard error at ``level``; ``replace=False`` leaves handlers already set
    up (a test's, or an embedding program's) alone, as ``logging.basicConfig`` does."""
    root = logging.getLogger()
    if root.handlers and not replace:
        return
    root.setLevel(level)
    # APScheduler logs every run of every job at INFO (a line a second), and a tick skipped
    # while its job still runs at WARNING: both are how the ticker is meant to work.
    logging.getLogger("apscheduler").setLevel(max(level, logging.ERROR))
    # httpx logs each request's full URL at INFO, webhook tokens included; kept for -vv.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(level if level <= logging.DEBUG else logging.WARNING)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter(PLAIN))
    root.handlers[:] = [handler]


def redact_uncaught() -> None:
    """Print tracebacks of uncaught exceptions (in any thread) redacted, like log lines:
    a bug's traceback may quote a URL with its password as well as any message."""

    def show(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        text = "".join(traceback.format_exception(kind, exc, tb))
        sys.stderr.write(redact_text(text))

    def show_thread(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        sys.stderr.write(f"Exception in thread {name}:\n")
        show(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    # Hooks someone else installed (a test runner, an embedding program) stay.
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = show
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = show_thread
