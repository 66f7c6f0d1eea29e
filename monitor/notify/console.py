"""Alerts printed to standard output, for trying the monitor out and for container logs."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from monitor.errors import NotifyError
from monitor.notify.clean import clean_message
from monitor.notify.message import Message
from monitor.notify.render import clean_header, render_text
from monitor.notify.template import Templates

_LOCK = threading.Lock()  # whole messages, never interleaved


class ConsoleNotifier:
    def __init__(
        self, name: str, stream: TextIO | None = None, *, templates: Templates | None = None
    ) -> None:
        self.name = name
        self._stream = stream
        self._templates = templates

    def send(self, message: Message) -> None:
        stream = self._stream or sys.stdout
        message = clean_message(message)
        rule = "=" * 72
        t = self._templates
        templated = t.render_subject(message) if t else None
        subject = (templated and clean_header(templated, 200)) or clean_header(message.subject, 200)
        body = (t.render_body(message) if t else None) or render_text(message)
        try:
            with _LOCK:
                stream.write(f"{rule}\n{subject}\n{rule}\n")
                stream.write(body.rstrip("\n") + "\n\n")
                stream.flush()
        except (OSError, ValueError) as exc:  # closed or broken stdout
            raise NotifyError(self.name, f"cannot write to the console: {exc}") from exc

    def close(self) -> None:
        pass
