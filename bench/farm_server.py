"""Serves a feed farm on 127.0.0.1 from its own process: HTTP/1.1 keep-alive, ETag, 304s.

Run as ``python farm_server.py FARM_ROOT``. Every file under FARM_ROOT/feeds is
loaded into memory first; the server then prints ``PORT <n>`` on stdout and
serves until its standard input closes (so it dies with the process that started
it, whatever happens to that one). ``GET /_stats`` returns the request counts
per status as JSON, so a benchmark can check that a re-poll really got 304s.
``GET /_serve/edited`` switches every feed to its edited version (FARM_ROOT/edited,
when the farm has one: new bodies, so new ETags, and a later Last-Modified);
``GET /_serve/feeds`` switches back.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from farm import BASE_DATE

CONTENT_TYPE = "application/rss+xml; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Resource:
    body: bytes
    etag: str
    last_modified: str


class FarmServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, root: Path) -> None:
        # Each version of the farm, served under the same paths, with when it changed.
        self.versions: dict[str, tuple[dict[str, Resource], datetime]] = {}
        for offset, folder in enumerate(("feeds", "edited")):
            if not (root / folder).is_dir():
                continue
            modified = BASE_DATE + timedelta(hours=offset)
            stamp = format_datetime(modified, usegmt=True)
            resources = {}
            for path in sorted((root / folder).iterdir()):
                body = path.read_bytes()
                etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
                resources[f"/feeds/{path.name}"] = Resource(body, etag, stamp)
            self.versions[folder] = (resources, modified)
        self.resources, self.modified_at = self.versions["feeds"]
        self.stats: Counter[str] = Counter()
        self.stats_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FarmHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            self.count("reset")  # a client that closed mid-request (e.g. on its timeout)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def count(self, key: str) -> None:
        with self.stats_lock:
            self.stats[key] += 1


class FarmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    server: FarmServer

    def setup(self) -> None:
        super().setup()
        self.server.count("connections")  # keep-alive reuse shows as few connections

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send(self, status: int, headers: dict[str, str], body: bytes, head: bool) -> None:
        lines = [f"HTTP/1.1 {status} {self.responses[status][0]}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write for headers and body: no Nagle/delayed-ACK stall between them.
        self.wfile.write(data if head else data + body)
        self.server.count(str(status))

    def _serve(self, head: bool) -> None:
        if self.path == "/_stats":
            with self.server.stats_lock:
                body = json.dumps(dict(self.server.stats)).encode()
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
                + b"\r\n"
                + body
            )
            return
        if self.path.startswith("/_serve/"):
            version = self.server.versions.get(self.path.removeprefix("/_serve/"))
            if version is not None:  # asked for between polls, with no request in flight
                self.server.resources, self.server.modified_at = version
            status = b"200 OK" if version else b"404 Not Found"
            self.wfile.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\n\r\n")
            return  # not counted in /_stats: only the feeds' responses are
        resource = self.server.resources.get(self.path)
        if resource is None:
            self._send(404, {"Content-Length": "0"}, b"", head)
            return
        validators = {"ETag": resource.etag, "Last-Modified": resource.last_modified}
        if self._not_modified(resource):
            self._send(304, validators, b"", head)
            return
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Content-Length": str(len(resource.body)),
            **validators,
        }
        self._send(200, headers, resource.body, head)

    def _not_modified(self, resource: Resource) -> bool:
        # RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since only counts without it.
        match = self.headers.get("If-None-Match")
        if match is not None:
            tags = {t.strip().removeprefix("W/") for t in match.split(",")}
            return "*" in tags or resource.etag in tags
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            return parsedate_to_datetime(since) >= self.server.modified_at
        except (TypeError, ValueError):
            return False


def main() -> None:
    server = FarmServer(Path(sys.argv[1]))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the parent closes the pipe or dies
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
