"""Real receivers on loopback for alert tests (an SMTP server, a webhook receiver) and the
ports and sockets around them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


class Receiver:
    """A webhook receiver that verifies signatures and can fail on purpose."""

    def __init__(self) -> None:
        self.deliveries: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.fail_next = 0
        self.arrived = 0  # POSTs received, answered or not yet
        self.answered = 0  # of them, those answered
        self.gate = threading.Event()  # cleared: each POST waits until it is set again
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                try:
                    self._post()
                finally:
                    receiver.answered += 1

            def _post(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.arrived += 1
                receiver.gate.wait()
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                msg_id = self.headers["webhook-id"]
                stamp = self.headers["webhook-timestamp"]
                key = base64.b64decode(SECRET.removeprefix("whsec_"))
                signed = f"{msg_id}.{stamp}.".encode() + body
                expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
                given = [s.split(",", 1)[1] for s in self.headers["webhook-signature"].split()]
                if not any(hmac.compare_digest(expected, g) for g in given):
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.ids.append(msg_id)
                receiver.deliveries.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()


@contextlib.contextmanager
def smtp_server(handler: Any, port: int | None = None, /, **kwargs: Any) -> Iterator[int]:
    """An aiosmtpd server on loopback (``port``, or a free one) that hands what it receives
    to ``handler`` (a Mailbox, say) until the block ends; its port."""
    port = free_port() if port is None else port
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def free_port() -> int:
    """A loopback port nothing listens on now: one to start a server on, or one where a
    connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def closed_by_peer(conn: socket.socket) -> bool:
    """Whether the server has closed ``conn`` (EOF or a reset waiting to be read)."""
    conn.setblocking(False)
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        conn.setblocking(True)
