"""Alerts printed to standard output, for trying the monitor out and for container logs."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from monitor.errors import NotifyError
from monitor.notify.clean import clean_message
from monitor.notify.message import Message
from monitor.notify.render import clean_header, render_text

_LOCK = threading.Lock()  # whole messages, never interleaved


class ConsoleNotifier:
    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def send(self, message: Message) -> None:
        stream = self._stream or sys.stdout
        message = clean_message(message)
        rule = "=" * 72
        try:
            with _LOCK:
                stream.write(f"{rule}\n{clean_header(message.subject, 200)}\n{rule}\n")
                stream.write(render_text(message).rstrip("\n") + "\n\n")
                stream.flush()
        except (OSError, ValueError) as exc:  # closed or broken stdout
            raise NotifyError(self.name, f"cannot write to the console: {exc}") from exc

    def close(self) -> None:
        pass
